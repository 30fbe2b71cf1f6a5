// Self time per function from a V8 .cpuprofile (node --cpu-prof).

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  functionName: string;
  location: string;
  selfMs: number;
  selfPercent: number;
}

export function topFunctions(profile: CpuProfile, count: number): ProfileEntry[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const byFunction = new Map<string, ProfileEntry>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    const location = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${location}`;
    const entry = byFunction.get(key) ?? { functionName: f.functionName || '(anonymous)', location, selfMs: 0, selfPercent: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
  }
  const list = [...byFunction.values()];
  for (const e of list) e.selfPercent = (e.selfMs * 1000 * 100) / total;
  return list.sort((a, b) => b.selfMs - a.selfMs).slice(0, count);
}
