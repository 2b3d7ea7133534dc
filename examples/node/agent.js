// A Node voice-agent client on the official `openai` npm package, tested with realtime-mock:
//
//   npm install --prefix examples/node
//   realtime-mock run --tls --scenario text_turn --scenario function_call -- node examples/node/agent.js
//
// The npm package always connects over wss://, so `run --tls` serves wss:// and hands the
// client the CA in NODE_EXTRA_CA_CERTS. OPENAI_BASE_URL and OPENAI_API_KEY come from `run`.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const tools = {
  get_weather: (args) => ({ city: args.city, sky: "sunny", celsius: 22 }),
};

const client = new OpenAI();
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);

rt.socket.on("open", () => {
  rt.send({ type: "session.update", session: { type: "realtime", output_modalities: ["text"] } });
  rt.send({
    type: "conversation.item.create",
    item: {
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "What's the weather in Paris?" }],
    },
  });
  rt.send({ type: "response.create" });
});

rt.on("response.done", (event) => {
  const output = event.response.output ?? [];
  const calls = output.filter((item) => item.type === "function_call");
  if (calls.length === 0) {
    const text = output
      .flatMap((item) => item.content ?? [])
      .map((part) => part.text ?? part.transcript ?? "")
      .join("");
    console.log(`answer: ${text}`);
    rt.close();
    return;
  }
  for (const call of calls) {
    const result = tools[call.name]?.(JSON.parse(call.arguments)) ?? { error: "no such tool" };
    rt.send({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: call.call_id, output: JSON.stringify(result) },
    });
  }
  rt.send({ type: "response.create" });
});

rt.on("error", (err) => {
  console.error(`realtime error: ${err.message ?? err}`);
  process.exit(1);
});
