/**
 * Runs inside a test namespace for cluster-routes.test.ts: installs our nf_tables table, starts the cluster routes,
 * then performs the steps given as JSON in CLUSTER_ROUTES_STEPS (each a list of peers to sync, or "close"), printing
 * `STEP n done` after each and waiting for the file `${CLUSTER_ROUTES_DIR}/go-n` before the next, so the test can
 * look at the kernel's routes and set between steps.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startClusterRoutes } from '../../src/host/cluster-routes.ts';
import { installRules } from '../../src/host/nftables.ts';
import { parseIPv4 } from '../../src/net/address.ts';

interface PeerText {
  host: string;
  subnet: string;
  via: string;
}

const steps = JSON.parse(process.env.CLUSTER_ROUTES_STEPS ?? '[]') as (PeerText[] | 'close')[];
const dir = process.env.CLUSTER_ROUTES_DIR ?? '.';
const ip = (text: string): number => parseIPv4(text) ?? Number.NaN;

async function waitForGo(n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(dir, `go-${n}`))) {
    if (Date.now() > deadline) throw new Error(`no go-${n}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

await installRules({ bridge: 'br0', subnet: ip('10.41.0.1'), prefixLength: 24, uplink: 'wan0', nat: true, firewall: true });
const routes = await startClusterRoutes({
  bridge: 'br0',
  log: { info: (m) => console.log(`INFO ${m}`), warn: (m) => console.log(`WARN ${m}`) },
});
for (const [n, step] of steps.entries()) {
  if (step === 'close') await routes.close();
  else {
    const peers = step.map((p) => {
      const [network = '', length = ''] = p.subnet.split('/');
      return { host: p.host, network: ip(network), prefixLength: Number(length), via: ip(p.via) };
    });
    await routes.sync(peers);
  }
  console.log(`STEP ${n} done ${JSON.stringify(routes.dropped)}`);
  await waitForGo(n);
}
console.log('EXIT');
