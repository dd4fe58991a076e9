// receiver.mjs: node receiver.mjs whsec_…  (Node.js 18 or newer; nothing to install)
// Verifies each delivery's Standard Webhooks signature before trusting it.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const secret = Buffer.from(process.argv[2].replace(/^whsec_/, ""), "base64");
const TOLERANCE_SECONDS = 300; // refuse replays of old deliveries

function verified(headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"] || "";
  if (!id || !timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) {
    return false;
  }
  const expected = createHmac("sha256", secret).update(`${id}.${timestamp}.${body}`).digest();
  // Several "v1,<base64>" entries while a secret is being rotated: any one may match.
  return signatures.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature || "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    if (!verified(request.headers, body)) {
      response.writeHead(401).end();
      return;
    }
    const event = JSON.parse(body);
    console.log(request.headers["webhook-id"], event.type, JSON.stringify(event.data));
    response.writeHead(204).end(); // 2xx: delivered; anything else is retried on schedule
  });
}).listen(Number(process.env.PORT || 9000), "127.0.0.1");
