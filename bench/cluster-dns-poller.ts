// The observing side of bench/cluster-propagation.ts, run inside a container namespace of host B:
// asks SERVER for PREFIX0.lxc, PREFIX1.lxc, ... in turn, one query outstanding, one every INTERVAL_MS, and prints
// `answered K HRTIME_NS` (process.hrtime, CLOCK_MONOTONIC, comparable with the bench process's stamps) the first time
// name K has an A record, then moves to K + 1. A name unanswered for NAME_TIMEOUT_MS prints `timeout K` and is skipped.
// Bounded: COUNT names and TOTAL_TIMEOUT_MS overall. Prints `ready` once its socket is bound.
// Usage: node --import tsx bench/cluster-dns-poller.ts SERVER PREFIX COUNT INTERVAL_MS NAME_TIMEOUT_MS TOTAL_TIMEOUT_MS
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const [server = '', prefix = '', countText = '', intervalText = '', nameTimeoutText = '', totalTimeoutText = ''] = process.argv.slice(2);
const count = Number(countText);
const intervalMs = Number(intervalText);
const nameTimeoutMs = Number(nameTimeoutText);
const deadline = Date.now() + Number(totalTimeoutText);
/** A reply slower than this counts as lost and the name is asked again. */
const QUERY_TIMEOUT_MS = 200;

const socket = createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(0, resolve));
process.stdout.write('ready\n');

function ask(name: string, id: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.removeListener('message', onMessage);
      resolve(false);
    }, QUERY_TIMEOUT_MS);
    const onMessage = (message: Buffer): void => {
      let decoded: ReturnType<typeof dnsPacket.decode>;
      try {
        decoded = dnsPacket.decode(message);
      } catch {
        return;
      }
      if (decoded.id !== id) return;
      clearTimeout(timer);
      socket.removeListener('message', onMessage);
      resolve((decoded.answers ?? []).some((answer) => answer.type === 'A'));
    };
    socket.on('message', onMessage);
    socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  });
}

let id = 1;
for (let k = 0; k < count && Date.now() < deadline; k++) {
  const giveUp = Date.now() + nameTimeoutMs;
  let answered = false;
  while (!answered && Date.now() < giveUp && Date.now() < deadline) {
    id = (id % 0xffff) + 1;
    answered = await ask(`${prefix}${k}.lxc`, id);
    if (answered) process.stdout.write(`answered ${k} ${process.hrtime.bigint()}\n`);
    else await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  if (!answered) process.stdout.write(`timeout ${k}\n`);
}
socket.close();
