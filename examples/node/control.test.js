// A node:test suite on the official `openai` npm package, where each test mounts its own
// scenario through realtime-mock's control API, runs the client, and asserts the verdict:
//
//   npm ci --prefix examples/node
//   realtime-mock serve --tls          # prints its port and NODE_EXTRA_CA_CERTS=...
//   REALTIME_MOCK_URL=http://127.0.0.1:8765 NODE_EXTRA_CA_CERTS=<the CA it printed> \
//     node --test examples/node/
//
// The npm package always connects over wss://, hence --tls and the mount's https_base_url.
// The mounts are independent (a prefix each), so the tests run concurrently on one server.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const MOCK = process.env.REALTIME_MOCK_URL ?? "http://127.0.0.1:8765";
const TIMEOUT = 30_000;

// ---- the control API -------------------------------------------------------------------

async function control(method, path, { json, yaml } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    [headers["content-type"], body] = ["application/json", JSON.stringify(json)];
  }
  if (yaml !== undefined) [headers["content-type"], body] = ["application/yaml", yaml];
  const response = await fetch(`${MOCK}/_mock${path}`, { method, headers, body });
  const answer = await response.json();
  if (!response.ok) {
    throw new Error(`${method} /_mock${path}: ${response.status} ${answer.error?.message}`);
  }
  return answer;
}

const mount = (what) => control("POST", "/mounts", what);
const verdict = (id) => control("GET", `/mounts/${id}/verdict`);
const unmount = (id) => control("DELETE", `/mounts/${id}`);

// ---- the client under test: asks about the weather, answers tool calls -----------------

const tools = {
  get_weather: (args) => ({ city: args.city, sky: "sunny", celsius: 22 }),
};

function askWeather(baseURL, question = "What's the weather in Paris?") {
  const client = new OpenAI({ apiKey: "sk-mock", baseURL });
  const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
  return new Promise((resolve, reject) => {
    let answer;
    rt.socket.on("open", () => {
      const session = { type: "realtime", output_modalities: ["text"] };
      rt.send({ type: "session.update", session });
      rt.send({
        type: "conversation.item.create",
        item: { type: "message", role: "user", content: [{ type: "input_text", text: question }] },
      });
      rt.send({ type: "response.create" });
    });
    rt.on("response.done", (event) => {
      const output = event.response.output ?? [];
      const calls = output.filter((item) => item.type === "function_call");
      if (calls.length === 0) {
        answer = output
          .flatMap((item) => item.content ?? [])
          .map((part) => part.text ?? part.transcript ?? "")
          .join("");
        rt.close();
        return;
      }
      for (const call of calls) {
        const result = tools[call.name]?.(JSON.parse(call.arguments)) ?? { error: "no such tool" };
        rt.send({
          type: "conversation.item.create",
          item: {
            type: "function_call_output",
            call_id: call.call_id,
            output: JSON.stringify(result),
          },
        });
      }
      rt.send({ type: "response.create" });
    });
    rt.on("error", (err) => reject(new Error(`realtime error: ${err.message ?? err}`)));
    rt.socket.on("close", (code) => {
      if (answer === undefined) reject(new Error(`closed (${code}) before an answer`));
      else resolve(answer);
    });
  });
}

// ---- the tests -------------------------------------------------------------------------

describe("a voice agent against realtime-mock", { concurrency: true, timeout: TIMEOUT }, () => {
  test("answers a text turn", async () => {
    const { id, https_base_url } = await mount({ json: { library: "text_turn" } });
    const answer = await askWeather(https_base_url);
    assert.equal(answer, "Paris is sunny today, twenty two degrees.");
    const result = await verdict(id);
    assert.ok(result.ok, result.findings.join("\n"));
    await unmount(id);
  });

  test("calls the weather tool and reads its answer", async () => {
    const { id, https_base_url } = await mount({ json: { library: "function_call" } });
    assert.equal(await askWeather(https_base_url), "It is sunny in Paris.");
    const result = await verdict(id);
    assert.ok(result.ok, result.findings.join("\n"));
    assert.equal(result.connections.length, 1);
    await unmount(id);
  });

  test("a scenario of the test's own, posted as YAML, judges what the client sent", async () => {
    const { id, https_base_url } = await mount({
      yaml: [
        "name: french_greeting",
        "description: The user greets in French first; the agent must say it as sent.",
        "steps:",
        "  - expect:",
        "      type: conversation.item.create",
        "      item: {content: [{text: {contains: Bonjour}}]}",
        "  - expect: response.create",
        "  - respond: {text: Salut !}",
        "",
      ].join("\n"),
    });
    // This client asks about the weather instead: the mock answers with its canned model,
    // and the verdict says which expectation was not met.
    await askWeather(https_base_url);
    const result = await verdict(id);
    assert.equal(result.ok, false);
    assert.match(result.findings[0], /conversation\.item\.create/);
    const { connections } = await control("GET", `/mounts/${id}/connections`);
    assert.equal(connections[0].ok, false);
    await unmount(id);
  });

  test("a bad scenario is refused with its line", async () => {
    const bad = "name: x\ndescription: y\nsteps:\n  - respnd: {}\n";
    const said = /400 the scenario has 1 problem:\s+body:4:5: .*respnd/;
    await assert.rejects(mount({ yaml: bad }), said);
  });
});

after(async () => {
  // The journal saw every connection of this suite, with its verdict.
  const journal = await control("GET", "/journal");
  const ours = journal.entries.filter((entry) => entry.mount !== null);
  assert.ok(ours.length >= 3, JSON.stringify(journal));
});
