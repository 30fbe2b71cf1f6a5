/**
 * Sends raw UDP payloads (hex arguments) to HOST PORT from inside whatever namespace it runs in, and prints each
 * answer as hex (or "timeout"). Run as: ip netns exec NS node --import tsx test/harness/udp-query.ts HOST PORT HEX...
 */
import { createSocket } from 'node:dgram';

const [host, portText, ...payloads] = process.argv.slice(2);
const port = Number(portText);
const socket = createSocket('udp4');
for (const hex of payloads) {
  const answer = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => {
      socket.removeAllListeners('message');
      resolve('timeout');
    }, 1500);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg.toString('hex'));
    });
    socket.send(Buffer.from(hex, 'hex'), port, host);
  });
  process.stdout.write(`${answer}\n`);
}
socket.close();
