import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BoundedMap } from '../../src/analyze/bounded-map.js';
import { DirectionTable } from '../../src/analyze/direction-table.js';

type Op = { kind: 'get' | 'peek' | 'add' | 'set'; flow: number; value: number };

/**
 * Distinct flows, of which 0-19 share two slots of the table's cache (it is indexed by the ports and the source, not
 * by the capture point or the destination) and the others have a slot each (so that their lookups hit the cache).
 */
function tuple(flow: number): [string, string, number, string, number] {
  return [flow % 5 === 0 ? 'eth1|' : '', `10.0.0.${flow % 2}`, 40_000 + (flow < 20 ? 0 : flow), `10.0.1.${flow}`, 443];
}

describe('DirectionTable', () => {
  it('finds, keeps and evicts exactly what a BoundedMap with the same key would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.record({ kind: fc.constantFrom<Op['kind']>('get', 'peek', 'add', 'set'), flow: fc.integer({ min: 0, max: 40 }), value: fc.integer({ min: 0, max: 3 }) }), { maxLength: 300, size: 'max' }),
        (capacity, ops) => {
          const evictedFromTable: number[] = [];
          const evictedFromMap: number[] = [];
          const table = new DirectionTable<number>(capacity, (v) => evictedFromTable.push(v));
          const reference = new BoundedMap<string, number>(capacity, (_k, v) => evictedFromMap.push(v));
          for (const { kind, flow, value } of ops) {
            const [point, src, srcPort, dst, dstPort] = tuple(flow);
            const key = `${point}|${src}|${srcPort}|${dst}|${dstPort}`;
            if (kind === 'add') {
              if (table.get(point, src, srcPort, dst, dstPort, false) !== undefined) continue;
              table.add(point, src, srcPort, dst, dstPort, flow * 10 + value);
              reference.set(key, flow * 10 + value);
            } else if (kind === 'set') {
              table.set(point, src, srcPort, dst, dstPort, flow * 10 + value);
              reference.set(key, flow * 10 + value);
            } else {
              assert.equal(table.get(point, src, srcPort, dst, dstPort, kind === 'get'), reference.get(key, kind === 'get'));
            }
          }
          assert.deepEqual(evictedFromTable, evictedFromMap);
          assert.equal(table.evicted, reference.evicted);
          assert.deepEqual([...table.values()].sort(), [...reference.values()].sort());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('holds both directions of a conversation as one entry, whichever direction came first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.constantFrom('10.0.0.1', '10.0.0.2'), fc.boolean(), (a, b, other, firstForward) => {
        const table = new DirectionTable<string>(4);
        const ends: [string, number, string, number] = firstForward ? ['10.0.0.1', a, other, b] : [other, b, '10.0.0.1', a];
        table.addConversation('tcp', ...ends, 'entry');
        assert.equal(table.getConversation('tcp', '10.0.0.1', a, other, b), 'entry');
        assert.equal(table.getConversation('tcp', other, b, '10.0.0.1', a), 'entry');
        assert.equal(table.size, 1);
        assert.equal(table.getConversation('udp', '10.0.0.1', a, other, b), undefined, 'another point');
      }),
    );
  });
});
