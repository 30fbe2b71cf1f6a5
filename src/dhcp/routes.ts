/**
 * Classless static routes (RFC 3442): option 121, and its twin 249 with the same encoding for Windows clients from
 * before the RFC. Holds the `--route CIDR,GATEWAY` parser, the encoder and the option filler (the shape of CoreDHCP's
 * plugins/staticroute). A client that gets option 121 ignores option 3, so the encoded list always carries the default
 * route via our router unless the operator routed 0.0.0.0/0 themselves. Encoded once per network settings object.
 */

import { formatIPv4, type IPv4, inSubnet, networkOf, parseIPv4 } from '../net/address.ts';
import { type Checked, fail, ok } from '../result.ts';
import { MessageType, Option } from './constants.ts';
import type { DhcpMessage } from './message.ts';

export interface StaticRoute {
  readonly destination: IPv4;
  readonly prefixLength: number;
  readonly gateway: IPv4;
}

/** Microsoft's private code for the same list, sent by Windows clients older than Vista instead of 121. */
export const MS_CLASSLESS_STATIC_ROUTE = 249;

/**
 * Routes the operator may give, the default route excluded: 27 routes of at most 9 bytes each plus the 5-byte default
 * route fit in 248 bytes, i.e. one option instance (255), so no client has to reassemble an RFC 3396 split option,
 * and both options together stay well inside the 576-byte reply every client accepts.
 */
export const MAX_STATIC_ROUTES = 27;

/** `CIDR,GATEWAY`, e.g. `192.0.2.0/24,10.0.0.2`: destination with its host bits clear, prefix 0-32. */
export function parseRoute(text: string): Checked<StaticRoute> {
  const m = /^([\d.]+)\/(\d{1,2}),([\d.]+)$/.exec(text.trim());
  const usage = `${JSON.stringify(text)} is not CIDR,GATEWAY (e.g. --route 192.0.2.0/24,10.0.0.2)`;
  if (!m) return fail(usage);
  const destination = parseIPv4(m[1] as string);
  const prefixLength = Number(m[2]);
  const gateway = parseIPv4(m[3] as string);
  if (destination === null || gateway === null) return fail(usage);
  if (prefixLength > 32) return fail(`${JSON.stringify(text)}: prefix length ${prefixLength} is not 0-32`);
  if (networkOf(destination, prefixLength) !== destination) {
    return fail(
      `${JSON.stringify(text)}: ${m[1]}/${prefixLength} has host bits set (did you mean ${formatIPv4(networkOf(destination, prefixLength))}/${prefixLength}?)`,
    );
  }
  return ok({ destination, prefixLength, gateway });
}

/** A next hop must be on-link: the client reaches it without a route. Null when every gateway is in the subnet. */
export function checkRoutesOnLink(routes: readonly StaticRoute[], serverIp: IPv4, prefixLength: number): string | null {
  for (const r of routes) {
    if (!inSubnet(r.gateway, serverIp, prefixLength) || r.gateway === networkOf(serverIp, prefixLength)) {
      return `--route ${formatIPv4(r.destination)}/${r.prefixLength},${formatIPv4(r.gateway)}: the gateway is outside the bridge subnet ${formatIPv4(networkOf(serverIp, prefixLength))}/${prefixLength} (a next hop must be on-link)`;
    }
  }
  return null;
}

/** RFC 3442 §2: each route is the prefix length, the significant octets of the destination, then the router. */
export function encodeRoutes(routes: readonly StaticRoute[]): Buffer {
  const size = routes.reduce((n, r) => n + 1 + Math.ceil(r.prefixLength / 8) + 4, 0);
  const out = Buffer.alloc(size);
  let at = 0;
  for (const r of routes) {
    out[at++] = r.prefixLength;
    for (let i = 0; i < Math.ceil(r.prefixLength / 8); i++) out[at++] = (r.destination >>> (24 - 8 * i)) & 0xff;
    out.writeUInt32BE(r.gateway >>> 0, at);
    at += 4;
  }
  return out;
}

/** The option value for a network: its routes, then the default route via our router if none of them is 0.0.0.0/0. */
export function routesWithDefault(routes: readonly StaticRoute[], router: IPv4 | undefined): StaticRoute[] {
  const hasDefault = routes.some((r) => r.prefixLength === 0);
  return hasDefault || router === undefined ? [...routes] : [...routes, { destination: 0, prefixLength: 0, gateway: router }];
}

/** What the filler reads; `ReplyContext` in reply.ts fits it, and this file need not import reply.ts. */
interface RoutedReply {
  readonly wanted: Buffer | null;
  readonly type: MessageType;
  readonly reply: DhcpMessage;
  readonly network: { readonly routes?: readonly StaticRoute[]; readonly routers: readonly IPv4[] };
}

const encoded = new WeakMap<object, Buffer | null>();

function encodedFor(network: RoutedReply['network']): Buffer | null {
  let value = encoded.get(network);
  if (value === undefined) {
    const routes = network.routes ?? [];
    value = routes.length > 0 ? encodeRoutes(routesWithDefault(routes, network.routers[0])) : null;
    encoded.set(network, value);
  }
  return value;
}

/**
 * Options 121 and 249, each only when the client listed it in option 55: a client that never asked may not know that
 * 121 replaces its router option, and 249 means something else outside Windows. Nothing when no route is configured,
 * so option 3 alone keeps working as before.
 */
export function fillStaticRoutes(ctx: RoutedReply): void {
  if (ctx.type === MessageType.Nak || ctx.wanted === null || !ctx.network.routes?.length) return;
  const asked121 = ctx.wanted.includes(Option.ClasslessStaticRoute);
  const asked249 = ctx.wanted.includes(MS_CLASSLESS_STATIC_ROUTE);
  if (!asked121 && !asked249) return;
  const value = encodedFor(ctx.network);
  if (value === null) return;
  if (asked121) ctx.reply.options.set(Option.ClasslessStaticRoute, value);
  if (asked249) ctx.reply.options.set(MS_CLASSLESS_STATIC_ROUTE, value);
}
