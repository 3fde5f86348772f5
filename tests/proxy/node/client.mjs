// The Anthropic TypeScript SDK against the proxy: one plain and one streaming request.
// Env: PROXY_URL, PROXY_KEY, MODEL. Prints {"plain": Message, "streamed": Message, "events": [types]} on stdout.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.PROXY_URL, apiKey: process.env.PROXY_KEY, maxRetries: 0 });
const params = {
  model: process.env.MODEL,
  max_tokens: 100,
  messages: [{ role: "user", content: "hello from TypeScript" }],
};
const plain = await client.messages.create(params);
const events = [];
const stream = client.messages.stream(params);
stream.on("streamEvent", (event) => events.push(event.type));
const streamed = await stream.finalMessage();
process.stdout.write(JSON.stringify({ plain, streamed, events }));
