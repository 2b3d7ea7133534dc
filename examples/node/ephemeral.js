// A backend and a browser-style client on the official `openai` npm package, against the mock:
// the backend (holding a real key) asks for a client secret with the session baked in, then a
// client connects with that ephemeral key alone and reads the session it starts with.
//
//   realtime-mock serve --tls     # then, with the printed OPENAI_BASE_URL (https) and CA:
//   OPENAI_BASE_URL=https://127.0.0.1:PORT/v1 NODE_EXTRA_CA_CERTS=ca.pem \
//     OPENAI_API_KEY=sk-backend node examples/node/ephemeral.js
//
// It prints one JSON line (the key's prefix, the session's instructions, what the mock said)
// and exits 0, or prints the error and exits 1. The npm package always connects over wss://.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const backend = new OpenAI();
const secret = await backend.realtime.clientSecrets.create({
  session: { type: "realtime", instructions: "Answer in one word.", output_modalities: ["text"] },
  expires_after: { anchor: "created_at", seconds: 600 },
});

// What a browser gets from its backend: the ephemeral key only.
const client = new OpenAI({ apiKey: secret.value, dangerouslyAllowBrowser: true });
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
const timer = setTimeout(() => {
  console.error("no session.created within 20 s");
  process.exit(1);
}, 20000);

rt.on("session.created", (event) => {
  clearTimeout(timer);
  console.log(
    JSON.stringify({
      key_prefix: secret.value.slice(0, 3),
      expires_in: secret.expires_at - Math.floor(Date.now() / 1000),
      secret_session: secret.session.instructions,
      instructions: event.session.instructions,
      output_modalities: event.session.output_modalities,
    }),
  );
  rt.close();
});

rt.on("error", (err) => {
  console.error(`realtime error: ${err.message ?? err}`);
  process.exit(1);
});
