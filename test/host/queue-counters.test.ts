import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQueueCounters } from '../../src/host/queue-counters.js';

describe('netfilter queue counters', () => {
  // As the kernel prints them: two queues bound, the second has dropped messages for both reasons.
  const text = [' 8080  16160     0 2 65531     0     0      447  1', ' 7361  16170    12 2 65531   318    27   100412  1', ''].join('\n');

  it('reads the waiting and dropped counts of the queue asked for', () => {
    assert.deepEqual(parseQueueCounters(text, 7361), { waiting: 12, queueFull: 318, socketFull: 27, taken: 100412 });
    assert.deepEqual(parseQueueCounters(text, 8080), { waiting: 0, queueFull: 0, socketFull: 0, taken: 447 });
  });

  it('says nothing for a queue nobody is bound to, nor for an empty or garbled table', () => {
    assert.equal(parseQueueCounters(text, 1), undefined);
    assert.equal(parseQueueCounters('', 7361), undefined);
    assert.equal(parseQueueCounters('7361 garbage', 7361), undefined);
  });
});
