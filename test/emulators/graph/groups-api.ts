/**
 * Group membership listing:
 * - GET /groups/{id}/members (https://learn.microsoft.com/en-us/graph/api/group-list-members) — direct members
 * - GET /groups/{id}/transitiveMembers (https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers) —
 *   a flat list of all nested members, nested groups included
 * Both answer a directoryObject collection (each item with its `@odata.type`) with $select and $top honoured and
 * @odata.nextLink paging (page size default 100, at most 999). $filter, $search, $count and OData casts (which Graph
 * serves only as advanced queries) are not emulated. Every member is returned in full: the emulator does not model
 * Graph's "limited information" (id and @odata.type only) for member types the caller may not read.
 */
import { SELECTABLE_USER_PROPERTIES, type Directory, type DirectoryGroup, type DirectoryObject } from './directory.js';
import { faults } from './errors.js';
import { odataContext, type GraphRequest, type Route } from './graph-router.js';
import { nextLink, parseSelect, parseTop, skipOf } from './odata.js';
import { authorize, type Operation } from './permissions.js';

const GROUP_PROPERTIES = ['classification', 'deletedDateTime', 'description', 'groupTypes', 'mailEnabled', 'securityEnabled', 'visibility'];
/** $select on a directoryObject collection may name the properties of any member type. */
const SELECTABLE: ReadonlySet<string> = new Set([...SELECTABLE_USER_PROPERTIES, ...GROUP_PROPERTIES]);

export function groupRoutes(directory: Directory, url: string): Route[] {
  const list = (op: Operation, segment: string, members: (g: DirectoryGroup) => DirectoryObject[]) => (req: GraphRequest) => {
    authorize(op, req.auth);
    const select = parseSelect(req.query, SELECTABLE, 'microsoft.graph.directoryObject');
    const top = parseTop(req.query, 100, 999);
    const skip = skipOf(req.query);
    const key = req.params[0] as string;
    const group = directory.group(key);
    if (!group) throw faults.directoryNotFound(key);
    const all = members(group);
    const body: Record<string, unknown> = { '@odata.context': odataContext(url, `directoryObjects${select ? `(${select.join(',')})` : ''}`) };
    if (skip + top < all.length) body['@odata.nextLink'] = nextLink(url, `/v1.0/groups/${encodeURIComponent(group.id)}/${segment}`, req.query, skip + top);
    body.value = all.slice(skip, skip + top).map((o) => directory.objectJson(o, select));
    return { status: 200, body };
  };

  return [
    { method: 'GET', path: 'groups/:id/members', handle: list('group.listMembers', 'members', (g) => directory.members(g)) },
    { method: 'GET', path: 'groups/:id/transitiveMembers', handle: list('group.listTransitiveMembers', 'transitiveMembers', (g) => directory.transitiveMembers(g)) },
  ];
}
