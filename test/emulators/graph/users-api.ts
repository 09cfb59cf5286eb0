/**
 * Directory endpoints:
 * - GET /users/{id | userPrincipalName}, GET /me (https://learn.microsoft.com/en-us/graph/api/user-get)
 * - GET /users with $filter, $select, $top and @odata.nextLink paging (https://learn.microsoft.com/en-us/graph/api/user-list;
 *   page size default 100, at most 999)
 * - POST /users (https://learn.microsoft.com/en-us/graph/api/user-post-users) — 201 with the user
 * - PATCH /users/{id | userPrincipalName}, PATCH /me (https://learn.microsoft.com/en-us/graph/api/user-update) — 204;
 *   User.ReadWrite covers only the signed-in user's own profile
 * - POST /groups/{id}/members/$ref (https://learn.microsoft.com/en-us/graph/api/group-post-members) — 204
 * - GET /users/{id}/licenseDetails (https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails): one
 *   licence with the Teams service plan (TEAMS1, provisioningStatus Success) while the user's Teams licence is
 *   active, else an empty list
 * - GET /organization (https://learn.microsoft.com/en-us/graph/api/organization-get): the tenant, with its
 *   verifiedDomains ({name, type: Managed | Federated, ...})
 */
import { DEFAULT_USER_PROPERTIES, SELECTABLE_USER_PROPERTIES, type Directory, type DirectoryUser } from './directory.js';
import { faults } from './errors.js';
import { odataContext, type GraphRequest, type Route } from './graph-router.js';
import { nextLink, parseFilter, parseSelect, parseTop, skipOf } from './odata.js';
import { authorize } from './permissions.js';

const USER_TYPE = 'microsoft.graph.user';
const FILTERABLE = new Set(['id', 'userPrincipalName', 'displayName', 'mail', 'mailNickname', 'givenName', 'surname', 'jobTitle', 'companyName']);

/** The Microsoft 365 licence the emulator reports, with its Microsoft Teams service plan. */
const TEAMS_SKU = { skuId: '6fd2c87f-b296-42f0-b197-1e91e994b900', skuPartNumber: 'ENTERPRISEPACK' };
const TEAMS_PLAN = { servicePlanId: '57ff2da0-773e-42df-b2af-ffb7a2317929', servicePlanName: 'TEAMS1', provisioningStatus: 'Success', appliesTo: 'User' };

export interface Organization {
  readonly tenantId: string;
  readonly displayName: string;
  readonly verifiedDomains: readonly string[];
  readonly federatedDomains: readonly string[];
}

export function userRoutes(directory: Directory, url: string, org?: Organization): Route[] {
  const context = (select: readonly string[] | undefined, entity: boolean) =>
    odataContext(url, `users${select ? `(${select.join(',')})` : ''}${entity ? '/$entity' : ''}`);

  const getUser = (req: GraphRequest, key: string) => {
    const target = directory.find(key);
    const self = req.auth.kind === 'delegated' && target !== undefined && target.id.toLowerCase() === req.auth.userId?.toLowerCase();
    authorize(self ? 'user.readSelf' : 'user.read', req.auth);
    const select = parseSelect(req.query, SELECTABLE_USER_PROPERTIES, USER_TYPE);
    if (!target || !directory.isVisible(target)) throw faults.directoryNotFound(key);
    return { status: 200, body: { '@odata.context': context(select, true), ...directory.toJson(target, select) } };
  };

  const matchesFilter = (u: DirectoryUser, raw: string | null): boolean => {
    if (raw === null || raw.trim() === '') return true;
    const full = directory.toJson(u, [...FILTERABLE]);
    return parseFilter(raw).every((c) => {
      if (!FILTERABLE.has(c.property)) throw faults.badRequest(`Unsupported or invalid query filter clause specified for property '${c.property}' of resource 'User'.`, 'Request_UnsupportedQuery');
      const v = full[c.property];
      if (typeof v !== 'string') return false;
      // Directory string comparisons are case-insensitive.
      return c.op === 'eq' ? v.toLowerCase() === c.value.toLowerCase() : v.toLowerCase().startsWith(c.value.toLowerCase());
    });
  };

  const updateUser = (req: GraphRequest, key: string) => {
    const target = directory.find(key);
    const self = req.auth.kind === 'delegated' && target !== undefined && target.id.toLowerCase() === req.auth.userId?.toLowerCase();
    authorize(self ? 'user.updateSelf' : 'user.update', req.auth);
    if (!target || !directory.isVisible(target)) throw faults.directoryNotFound(key);
    directory.update(target, req.json());
    return { status: 204 };
  };

  return [
    {
      method: 'GET',
      path: 'users',
      handle: (req) => {
        authorize('user.list', req.auth);
        const select = parseSelect(req.query, SELECTABLE_USER_PROPERTIES, USER_TYPE);
        const filter = req.query.get('$filter');
        const top = parseTop(req.query, 100, 999);
        const skip = skipOf(req.query);
        const all = directory.all().filter((u) => directory.isVisible(u) && matchesFilter(u, filter));
        const page = all.slice(skip, skip + top);
        const body: Record<string, unknown> = { '@odata.context': context(select, false) };
        if (skip + top < all.length) body['@odata.nextLink'] = nextLink(url, '/v1.0/users', req.query, skip + top);
        body.value = page.map((u) => directory.toJson(u, select ?? DEFAULT_USER_PROPERTIES));
        return { status: 200, body };
      },
    },
    { method: 'GET', path: 'users/:id', handle: (req) => getUser(req, req.params[0] as string) },
    {
      method: 'GET',
      path: 'me',
      handle: (req) => {
        if (req.auth.kind !== 'delegated' || !req.auth.userId) throw faults.badRequest('/me request is only valid with delegated authentication flow.');
        return getUser(req, req.auth.userId);
      },
    },
    { method: 'PATCH', path: 'users/:id', handle: (req) => updateUser(req, req.params[0] as string) },
    {
      method: 'PATCH',
      path: 'me',
      handle: (req) => {
        if (req.auth.kind !== 'delegated' || !req.auth.userId) throw faults.badRequest('/me request is only valid with delegated authentication flow.');
        return updateUser(req, req.auth.userId);
      },
    },
    {
      method: 'POST',
      path: 'users',
      handle: (req) => {
        authorize('user.create', req.auth);
        const user = directory.create(req.json());
        return { status: 201, body: { '@odata.context': context(undefined, true), ...directory.toJson(user, undefined) } };
      },
    },
    {
      method: 'GET',
      path: 'users/:id/licenseDetails',
      handle: (req) => {
        const key = req.params[0] as string;
        const target = directory.find(key);
        authorize('user.licenseDetails', req.auth);
        if (!target || !directory.isVisible(target)) throw faults.directoryNotFound(key);
        const value = directory.licenceActive(target.id) ? [{ id: `${target.id}-${TEAMS_SKU.skuId}`, ...TEAMS_SKU, servicePlans: [TEAMS_PLAN] }] : [];
        return { status: 200, body: { '@odata.context': odataContext(url, `users('${target.id}')/licenseDetails`), value } };
      },
    },
    {
      method: 'GET',
      path: 'organization',
      handle: (req) => {
        authorize('organization.read', req.auth);
        const o = org ?? { tenantId: '', displayName: 'Emulated tenant', verifiedDomains: [], federatedDomains: [] };
        const federated = new Set(o.federatedDomains.map((d) => d.toLowerCase()));
        const verifiedDomains = o.verifiedDomains.map((name, i) => ({
          capabilities: 'None',
          isDefault: i === 0,
          isInitial: i === 0,
          name,
          type: federated.has(name.toLowerCase()) ? 'Federated' : 'Managed',
        }));
        return { status: 200, body: { '@odata.context': odataContext(url, 'organization'), value: [{ id: o.tenantId, displayName: o.displayName, verifiedDomains }] } };
      },
    },
    {
      method: 'POST',
      path: 'groups/:id/members/$ref',
      handle: (req) => {
        authorize('group.addMember', req.auth);
        directory.addMemberRef(req.params[0] as string, req.json(), url);
        return { status: 204 };
      },
    },
  ];
}
