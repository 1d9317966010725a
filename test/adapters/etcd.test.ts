// Unit tests: how etcd failures are classified (the VIP_E_FLEET_* code, exit 8, the endpoints named).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fleetError } from '../../src/adapters/etcd.ts';

const cfg = { endpoints: ['http://203.0.113.1:2379', 'http://203.0.113.2:2379'], timeout: 1500 };

test('fleetError: each kind of failure has its code, exit 8, and names etcd and its endpoints', () => {
  class GRPCDeadlineExceededError extends Error {}
  const rows: [Error, string][] = [
    [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'VIP_E_FLEET_TIMEOUT'],
    [new Error('etcdserver: request timed out'), 'VIP_E_FLEET_NO_QUORUM'],
    [new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 203.0.113.1:2379. Resolution note: '), 'VIP_E_FLEET_UNAVAILABLE'],
    [new Error('14 UNAVAILABLE: ... SSL routines:ssl3_read_bytes:sslv3 alert bad certificate'), 'VIP_E_FLEET_TLS'],
    [new Error('etcdserver: permission denied'), 'VIP_E_FLEET_AUTH'],
  ];
  for (const [e, code] of rows) {
    const v = fleetError(e, 'reading the fleet', cfg);
    assert.equal(v.code, code, e.message);
    assert.equal(v.exit, 8);
    assert.match(v.message, /^reading the fleet: etcd \(http:\/\/203\.0\.113\.1:2379, http:\/\/203\.0\.113\.2:2379\): /);
    assert.doesNotMatch(v.message, /Resolution note/);
  }
  assert.match(fleetError(new GRPCDeadlineExceededError('x'), 'w', cfg).message, /no answer within 1500 ms/);
});
