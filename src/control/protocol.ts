/**
 * The control socket's protocol: newline-delimited JSON, one request object per line, one response object per line,
 * answered in order. Requests:
 *
 *     {"op":"leases"}
 *     {"op":"release","target":"02:1a:b0:00:00:05" | "10.0.0.105" | "web"}
 *     {"op":"reserve","mac":"02:1a:b0:00:00:05","ip":"10.0.0.5","ip6":"fd00::5","name":"web"}  (ip6, name optional)
 *     {"op":"unreserve","target":MAC|IP|NAME}
 *     {"op":"cluster"}  (the cluster view: hosts, their names; src/cluster/report.ts)
 *
 * Responses: {"ok":true,"leases":[...]} for leases, {"ok":true,"message":"..."} for the others,
 * {"ok":false,"error":"..."} for anything that failed (bad JSON, unknown op, bad fields, refused by the daemon).
 */

import type { ClusterReport } from '../cluster/report.ts';
import { type OperatorTarget, parseReservation, type Reservation } from '../config/reservations.ts';
import type { LeaseRow } from '../leases/report.ts';
import { parseIPv4, parseMac } from '../net/address.ts';
import { isDnsLabel } from '../net/dns-name.ts';
import type { Checked } from '../result.ts';

/** Longest request or response line accepted, newline excluded. Lease lists can be long; requests are tiny. */
export const MAX_REQUEST_BYTES = 4096;
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export type ControlRequest =
  | { op: 'leases' }
  | { op: 'release'; target: string }
  | { op: 'reserve'; mac: string; ip: string; name?: string; ip6?: string }
  | { op: 'unreserve'; target: string }
  | { op: 'cluster' };

export type ControlResponse =
  | { ok: true; leases: LeaseRow[] }
  | { ok: true; cluster: ClusterReport }
  | { ok: true; message: string }
  | { ok: false; error: string };

/** What a handler answers for release/reserve/unreserve. */
export type ControlResult = { ok: true; message: string } | { ok: false; error: string };

/** A release/unreserve target, classified: a MAC, an address, or a host name (lowercased). */
export function parseTarget(text: string): Checked<OperatorTarget> {
  const mac = parseMac(text);
  if (mac !== null) return { ok: true, value: { kind: 'mac', mac } };
  const ip = parseIPv4(text);
  if (ip !== null) return { ok: true, value: { kind: 'ip', ip } };
  if (isDnsLabel(text)) return { ok: true, value: { kind: 'name', name: text.toLowerCase() } };
  return { ok: false, error: `target ${JSON.stringify(text)} is not a MAC, an IPv4 address or a host name` };
}

/** A request after validation, as handed to the daemon's handlers. */
type ValidRequest =
  | { op: 'leases' }
  | { op: 'cluster' }
  | { op: 'release'; target: OperatorTarget }
  | { op: 'reserve'; reservation: Reservation }
  | { op: 'unreserve'; target: OperatorTarget };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(request: Record<string, unknown>, field: string, op: string): Checked<string> {
  const value = request[field];
  if (typeof value !== 'string' || value === '') return { ok: false, error: `"${op}" needs "${field}" as a non-empty string` };
  return { ok: true, value };
}

/** Parses and validates one request line (without its newline). */
export function parseControlRequest(line: string): Checked<ValidRequest> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `request is not JSON: ${(e as Error).message}` };
  }
  if (!isRecord(request)) return { ok: false, error: 'request is not a JSON object like {"op":"leases"}' };
  const op = request.op;
  switch (op) {
    case 'leases':
    case 'cluster':
      return { ok: true, value: { op } };
    case 'release':
    case 'unreserve': {
      const text = stringField(request, 'target', op);
      if (!text.ok) return text;
      const target = parseTarget(text.value);
      if (!target.ok) return target;
      return { ok: true, value: { op, target: target.value } };
    }
    case 'reserve': {
      const mac = stringField(request, 'mac', op);
      if (!mac.ok) return mac;
      const ip = stringField(request, 'ip', op);
      if (!ip.ok) return ip;
      const name = request.name;
      if (name !== undefined && name !== null && typeof name !== 'string') return { ok: false, error: '"reserve": "name" must be a string' };
      const ip6 = request.ip6;
      if (ip6 !== undefined && ip6 !== null && typeof ip6 !== 'string') return { ok: false, error: '"reserve": "ip6" must be a string' };
      const fields = [
        mac.value,
        ip.value,
        ...(typeof ip6 === 'string' && ip6 !== '' ? [`[${ip6}]`] : []),
        ...(typeof name === 'string' && name !== '' ? [name] : []),
      ];
      if (fields.some((f) => f.includes(','))) return { ok: false, error: '"reserve": fields may not contain ","' };
      const parsed = parseReservation(fields.join(','));
      if (!parsed.ok) return { ok: false, error: `"reserve": ${parsed.error}` };
      return { ok: true, value: { op, reservation: parsed.value } };
    }
    default:
      return { ok: false, error: `unknown op ${JSON.stringify(op)}: use leases, cluster, release, reserve or unreserve` };
  }
}

/** Checks the shape of a response line from the daemon. */
export function parseControlResponse(line: string): Checked<ControlResponse> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `response is not JSON: ${(e as Error).message}` };
  }
  if (!isRecord(value) || typeof value.ok !== 'boolean') return { ok: false, error: 'response is not an object with "ok"' };
  if (value.ok === false) {
    return typeof value.error === 'string' ? { ok: true, value: { ok: false, error: value.error } } : { ok: false, error: 'error response without "error"' };
  }
  if (Array.isArray(value.leases)) return { ok: true, value: { ok: true, leases: value.leases as LeaseRow[] } };
  if (isRecord(value.cluster) && Array.isArray(value.cluster.hosts))
    return { ok: true, value: { ok: true, cluster: value.cluster as unknown as ClusterReport } };
  if (typeof value.message === 'string') return { ok: true, value: { ok: true, message: value.message } };
  return { ok: false, error: 'response has neither "leases" nor "message"' };
}

export function defaultControlSocketPath(bridge: string): string {
  return `/run/lxc-dhcpd/${bridge}.sock`;
}
