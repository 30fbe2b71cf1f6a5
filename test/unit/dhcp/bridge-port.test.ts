// BridgePort (src/dhcp/transport.ts): the bridge's frame port, opened before the prober, the server and the transport.
// Frames reach the one listener only once it listens; closing is idempotent (the daemon's rollback may close a port the
// transport already closed) and nothing is sent afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BridgePort, type FramePort } from '../../../src/dhcp/transport.ts';
import { createLogger, RateLimitedCounter } from '../../../src/log.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';

function open(): { port: BridgePort; push: (frames: ReceivedFrame[]) => void; sent: Buffer[]; closes: () => number } {
  let push: (frames: ReceivedFrame[]) => void = () => undefined;
  const sent: Buffer[] = [];
  let closes = 0;
  const raw: FramePort = {
    mac: '02:00:00:00:00:01',
    mtu: 1400,
    send: (f) => sent.push(f) > 0,
    sendMany: (fs) => {
      sent.push(...fs);
      return fs.length;
    },
    isBridgePort: (ifindex) => ifindex === 3,
    close: () => void closes++,
  };
  const port = new BridgePort({
    bridge: 'br-test',
    serverIp: parseIPv4('10.0.0.1') as number,
    drops: new RateLimitedCounter(),
    log: createLogger('error'),
    openPort: (deliver) => {
      push = deliver;
      return raw;
    },
  });
  return { port, push: (frames) => push(frames), sent, closes: () => closes };
}

const frame = (ifindex: number): ReceivedFrame => ({ data: Buffer.alloc(60), pktType: 0, ifindex });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('the port gives the MTU and MAC of its socket before anyone listens; frames before listen() reach nobody', () => {
  const { port, push } = open();
  assert.equal(port.mtu, 1400);
  assert.equal(port.mac, '02:00:00:00:00:01');
  assert.doesNotThrow(() => push([frame(3)]));
  const got: ReceivedFrame[] = [];
  port.listen((frames) => got.push(...frames));
  push([frame(3), frame(4)]);
  assert.equal(got.length, 2, 'the listener sees what the socket passes up; the transport filters by port');
  assert.throws(() => port.listen(() => undefined), /already has a listener/);
});

test('ARP probes asked for in one turn leave together, from the bridge MAC; none after close()', async () => {
  const { port, sent } = open();
  port.sendArpProbe(parseIPv4('10.0.0.7') as number);
  port.sendArpProbe(parseIPv4('10.0.0.8') as number);
  assert.equal(sent.length, 0, 'not before the end of the turn');
  await turn();
  assert.equal(sent.length, 2);
  assert.equal(sent[0]?.subarray(6, 12).toString('hex'), '020000000001');
  port.sendArpProbe(parseIPv4('10.0.0.9') as number);
  port.close();
  await turn();
  port.send([Buffer.alloc(60)]);
  assert.equal(sent.length, 2, 'nothing leaves a closed port');
});

test('close() is idempotent, closes the socket once, and a closed port has no bridge ports', () => {
  const { port, push, closes } = open();
  const got: ReceivedFrame[] = [];
  port.listen((frames) => got.push(...frames));
  assert.equal(port.isBridgePort(3), true);
  port.close();
  port.close();
  assert.equal(closes(), 1);
  assert.equal(port.isBridgePort(3), false);
  push([frame(3)]);
  assert.equal(got.length, 0, 'frames after close() reach nobody');
});
