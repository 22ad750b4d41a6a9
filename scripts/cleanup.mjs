// Removes leftovers of test runs that died before their own cleanup ran: network namespaces named mts-<runid>-*
// whose owning process is gone. Namespaces of runs still going (in parallel) are left alone.
import { gcStaleNamespaces } from '../dist/test/support/netns.js';

const deleted = await gcStaleNamespaces();
console.log(deleted.length === 0 ? 'cleanup: nothing left over' : `cleanup: deleted ${deleted.join(' ')}`);
