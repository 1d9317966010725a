// GoBGP's gRPC API for the apply path of the GoBGP speaker (gobgp.ts): one AddPathStream call
// carries a whole batch of adds and withdrawals, where the CLI takes one process (~10-15 ms of Go
// start-up and a connection) per route. Reads stay on the CLI: they are three calls a run, not one
// per route.
//
// The messages are a subset of GoBGP 3's api/gobgp.proto and api/attribute.proto (package apipb):
// only the messages and fields vip-mgmt sets, with GoBGP's own field numbers, so the wire format is
// GoBGP's. google.protobuf.Any is declared here with its two fields rather than imported. Facts
// from gobgpd 3.10.0 in the lab (2026-12-02):
// - AddPathStream validates every path of a request before it applies any (a bad one fails the
//   request with its reason, code UNKNOWN), and applies a request's paths in one go;
// - a path with is_withdraw removes the locally added route of its prefix, however it was added
//   (this API, AddPath or `gobgp global rib add`), and is a no-op for a prefix GoBGP does not have;
// - a route added here shows in `gobgp global rib -j` exactly as one added by the CLI with
//   `origin igp nexthop 0.0.0.0|:: aspath ... community 65535:0`.
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { VipError } from '../core/errors.js';
import type { GobgpApiPath } from '../core/gobgp.js';
import type { GobgpApi } from '../config/schema.js';

const PROTO = `
syntax = "proto3";
package apipb;
message Any { string type_url = 1; bytes value = 2; }
message Family { int32 afi = 1; int32 safi = 2; }
message Path { Any nlri = 1; repeated Any pattrs = 2; bool is_withdraw = 5; Family family = 9; }
message AddPathStreamRequest { int32 table_type = 1; string vrf_id = 2; repeated Path paths = 3; }
message IPAddressPrefix { uint32 prefix_len = 1; string prefix = 2; }
message OriginAttribute { uint32 origin = 1; }
message AsSegment { int32 type = 1; repeated uint32 numbers = 2; }
message AsPathAttribute { repeated AsSegment segments = 1; }
message NextHopAttribute { string next_hop = 1; }
message MpReachNLRIAttribute { Family family = 1; repeated string next_hops = 2; repeated Any nlris = 3; }
message CommunitiesAttribute { repeated uint32 communities = 1; }
`;
const METHOD = '/apipb.GobgpApi/AddPathStream';
const TABLE_GLOBAL = 0;
const AFI = { 4: 1, 6: 2 } as const;
const SAFI_UNICAST = 1;
const ORIGIN_IGP = 0;
const AS_SEQUENCE = 2;
/** paths per request message: gobgpd takes 4 MiB a message; 1000 paths are ~110 KB */
const PER_MESSAGE = 1000;

let types: ((name: string) => protobuf.Type) | null = null;
function type(name: string): protobuf.Type {
  if (!types) {
    const root = protobuf.parse(PROTO, { keepCase: true }).root;
    types = (n) => root.lookupType(`apipb.${n}`);
  }
  return types(name);
}
const bytes = (name: string, value: object): Uint8Array => type(name).encode(type(name).fromObject(value)).finish();
const any = (name: string, value: object) => ({ type_url: `type.googleapis.com/apipb.${name}`, value: bytes(name, value) });

/** One path as apipb.Path's fields. */
function pathMessage(p: GobgpApiPath): object {
  const family = { afi: AFI[p.family], safi: SAFI_UNICAST };
  const nlri = any('IPAddressPrefix', { prefix_len: p.length, prefix: p.address });
  const pattrs = [
    any('OriginAttribute', { origin: ORIGIN_IGP }),
    p.family === 4 ? any('NextHopAttribute', { next_hop: p.nextHop }) : any('MpReachNLRIAttribute', { family, next_hops: [p.nextHop], nlris: [nlri] }),
    ...(p.asPath.length > 0 ? [any('AsPathAttribute', { segments: [{ type: AS_SEQUENCE, numbers: p.asPath }] })] : []),
    ...(p.communities.length > 0 ? [any('CommunitiesAttribute', { communities: p.communities })] : []),
  ];
  return { nlri, pattrs, family, is_withdraw: p.withdraw };
}

/** The request messages of a batch, PER_MESSAGE paths each (exported for the tests). */
export function requestMessages(paths: readonly GobgpApiPath[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < paths.length; i += PER_MESSAGE) {
    out.push(Buffer.from(bytes('AddPathStreamRequest', { table_type: TABLE_GLOBAL, paths: paths.slice(i, i + PER_MESSAGE).map(pathMessage) })));
  }
  return out;
}

/** bgp.gobgp.api as a gRPC target: unix:///path, ipv4:A:P, ipv6:[A]:P or dns:HOST:P. */
export function grpcTarget(api: GobgpApi): string {
  if ('unix' in api) return `unix://${api.unix}`;
  const v = isIP(api.host);
  return v === 4 ? `ipv4:${api.host}:${api.port}` : v === 6 ? `ipv6:[${api.host}]:${api.port}` : `dns:${api.host}:${api.port}`;
}

/** gRPC status codes that mean gobgpd was not reached or did not answer (exit 6), not that it refused. */
const DOWN = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]);

/**
 * Send PATHS to gobgpd in one AddPathStream call (a message per PER_MESSAGE paths) within timeoutMs.
 * gobgpd unreachable or silent: VIP_E_SPEAKER_DOWN; a path it refuses: VIP_E_APPLY with its reason.
 * WHERE names the API in messages.
 */
export async function addPathStream(api: GobgpApi, where: string, paths: readonly GobgpApiPath[], timeoutMs: number): Promise<void> {
  if (paths.length === 0) return;
  const messages = requestMessages(paths);
  const client = new grpc.Client(grpcTarget(api), grpc.credentials.createInsecure());
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.makeClientStreamRequest<Buffer, Buffer>(
        METHOD,
        (b) => b,
        (b) => b,
        { deadline: Date.now() + timeoutMs },
        (err) => (err ? reject(err) : resolve()),
      );
      call.on('error', () => undefined); // reported through the callback
      for (const m of messages) call.write(m);
      call.end();
    });
  } catch (e) {
    const err = e as grpc.ServiceError;
    const details = { api: where, grpcCode: err.code ?? null, paths: paths.length };
    const part = messages.length > 1 ? ` (sent in ${messages.length} parts: the first ones may have been applied; vip-mgmt status shows what is announced)` : '';
    if (err.code === undefined || DOWN.has(err.code)) {
      const why = err.code === grpc.status.DEADLINE_EXCEEDED ? `no answer within ${timeoutMs} ms` : (err.details || err.message);
      throw new VipError('VIP_E_SPEAKER_DOWN', `gobgpd did not answer on ${where} trying to apply ${paths.length} change${paths.length === 1 ? '' : 's'} (${why}): start gobgpd with --api-hosts ${where}, or fix bgp.gobgp.api${part}`, details);
    }
    throw new VipError('VIP_E_APPLY', `gobgpd rejected the batch of ${paths.length} change${paths.length === 1 ? '' : 's'}: ${err.details || err.message}${part || '; nothing of it was applied'}`, details);
  } finally {
    client.close();
  }
}
