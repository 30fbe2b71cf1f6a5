// Runs inside the load container: acts as a relay (10.0.0.2:67, giaddr = own address), sends a DHCPDISCOVER for MAC
// every 10 ms to SERVER:67 and prints the wall-clock time (epoch ms) of the first OFFER, then exits.
// Usage: node --import tsx bench/first-offer.ts LOCAL_IP SERVER_IP MAC TIMEOUT_MS
// Prints "ready" once its socket is bound, then "offer EPOCH_MS" or "timeout". Bounded by TIMEOUT_MS.

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

const [localIp, serverIp, mac, timeoutText] = process.argv.slice(2);
if (!localIp || !serverIp || !mac || !timeoutText) {
  process.stderr.write('usage: first-offer.ts LOCAL_IP SERVER_IP MAC TIMEOUT_MS\n');
  process.exit(2);
}
const timeoutMs = Number(timeoutText);
const xid = randomBytes(4).readUInt32BE(0);

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function discover(): Buffer {
  const b = Buffer.alloc(300);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // ethernet
  b[2] = 6;
  b[3] = 1; // hops: relayed once
  b.writeUInt32BE(xid, 4);
  Buffer.from(ipBytes(localIp!)).copy(b, 24); // giaddr
  Buffer.from(mac!.split(':').map((h) => parseInt(h, 16))).copy(b, 28); // chaddr
  b.writeUInt32BE(0x63825363, 236);
  let o = 240;
  for (const byte of [53, 1, 1, 55, 3, 1, 3, 6, 255]) b[o++] = byte;
  return b;
}

const socket = createSocket({ type: 'udp4', reuseAddr: true });
const packet = discover();
let sent = 0;
let timer: NodeJS.Timeout | undefined;
const finish = (line: string, code: number): void => {
  if (timer) clearInterval(timer);
  process.stdout.write(`${line} sent=${sent}\n`);
  socket.close();
  process.exit(code);
};
socket.on('message', (msg) => {
  if (msg.length < 244 || msg[0] !== 2 || msg.readUInt32BE(4) !== xid) return;
  // find option 53
  let o = 240;
  while (o + 1 < msg.length && msg[o] !== 255) {
    const code = msg[o];
    if (code === 0) {
      o++;
      continue;
    }
    const len = msg[o + 1] ?? 0;
    if (code === 53 && msg[o + 2] === 2) finish(`offer ${Date.now()}`, 0);
    o += 2 + len;
  }
});
socket.on('error', () => undefined); // ICMP port unreachable before the server is up
socket.bind({ address: localIp, port: 67 }, () => {
  process.stdout.write('ready\n');
  timer = setInterval(() => {
    sent++;
    socket.send(packet, 67, serverIp);
  }, 10);
  setTimeout(() => finish('timeout', 1), timeoutMs).unref();
});
