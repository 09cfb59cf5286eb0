/**
 * Profile photo endpoints of users, for /users/{id | userPrincipalName} and /me alike:
 * - GET .../photo (metadata of the largest size), GET .../photo/$value (the bytes), GET .../photos (metadata of every
 *   size), GET .../photos/{size} and GET .../photos/{size}/$value
 *   (https://learn.microsoft.com/en-us/graph/api/profilephoto-get): "If successful, this method returns a 200 OK
 *   response code and binary data of the requested photo. If no photo exists, the operation returns 404 Not Found."
 *   Learn does not name the error code; Graph's is ImageNotFound with the text below (as reported in
 *   https://github.com/microsoftgraph/msgraph-sdk-dotnet-core/issues/851). The emulator answers 404 for the metadata
 *   too (Learn's example shows a 1x1 placeholder, which Graph no longer returns:
 *   https://github.com/microsoftgraph/microsoft-graph-docs/issues/20785), and an empty list for GET .../photos.
 * - PUT or PATCH .../photo/$value with the image as the body (https://learn.microsoft.com/en-us/graph/api/profilephoto-update:
 *   "You can use either PATCH or PUT", "Content-Type image/jpeg. Required.", limited to 4 MB, "If successful, this
 *   method returns a 200 OK response code"). The emulator accepts any image/* type and stores the bytes unchanged.
 * The sizes and their metadata: photos.ts.
 */
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { odataContext, type GraphReply, type GraphRequest, type Route } from './graph-router.js';
import { authorize } from './permissions.js';
import { PHOTO_SIZES, photoSize, type PhotoStore, type StoredPhoto } from './photos.js';

const LARGEST = '648x648';

function imageNotFound(): GraphFault {
  return new GraphFault(404, 'ImageNotFound', "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.");
}

export function photoRoutes(directory: Directory, photos: PhotoStore, url: string): Route[] {
  /** The user the path names (users/{key} or me); undefined key means /me. */
  const target = (req: GraphRequest, key: string | undefined): DirectoryUser => {
    if (key === undefined && (req.auth.kind !== 'delegated' || !req.auth.userId)) throw faults.badRequest('/me request is only valid with delegated authentication flow.');
    const k = key ?? (req.auth.userId as string);
    const user = directory.find(k);
    if (!user) throw faults.directoryNotFound(k);
    return user;
  };
  const isSelf = (req: GraphRequest, user: DirectoryUser) => req.auth.kind === 'delegated' && user.id.toLowerCase() === req.auth.userId?.toLowerCase();

  const read = (req: GraphRequest, key: string | undefined): { user: DirectoryUser; photo: StoredPhoto | undefined } => {
    authorize('user.photo.read', req.auth);
    const user = target(req, key);
    return { user, photo: photos.get(user.id) };
  };

  const sizeOf = (raw: string) => {
    const size = photoSize(raw);
    // Learn lists the sizes; another one answers as a missing photo (the emulator's choice).
    if (!size) throw imageNotFound();
    return size;
  };

  const metadata = (photo: StoredPhoto, size: { id: string; width: number; height: number }) => ({
    '@odata.mediaContentType': photo.contentType,
    '@odata.mediaEtag': photo.etag,
    id: size.id,
    width: size.width,
    height: size.height,
  });

  const bytes = (photo: StoredPhoto): GraphReply => ({ status: 200, binary: photo.bytes, headers: { 'Content-Type': photo.contentType, ETag: photo.etag } });

  const handlers = {
    photo: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { user, photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return {
        status: 200,
        body: {
          '@odata.context': odataContext(url, `users('${user.id}')/photo/$entity`),
          '@odata.id': `${url}/v1.0/users('${user.id}')/photo`,
          ...metadata(photo, sizeOf(LARGEST)),
        },
      };
    },
    photoValue: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return bytes(photo);
    },
    photos: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { user, photo } = read(req, key);
      return {
        status: 200,
        body: {
          '@odata.context': odataContext(url, `users('${user.id}')/photos`),
          value: photo ? PHOTO_SIZES.map((s) => metadata(photo, sizeOf(s))) : [],
        },
      };
    },
    size: (req: GraphRequest, key: string | undefined, raw: string): GraphReply => {
      const { user, photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return { status: 200, body: { '@odata.context': odataContext(url, `users('${user.id}')/photos/$entity`), ...metadata(photo, sizeOf(raw)) } };
    },
    sizeValue: (req: GraphRequest, key: string | undefined, raw: string): GraphReply => {
      const { photo } = read(req, key);
      if (!photo) throw imageNotFound();
      sizeOf(raw);
      return bytes(photo);
    },
    update: (req: GraphRequest, key: string | undefined): GraphReply => {
      const user = key === undefined ? target(req, undefined) : directory.find(key);
      authorize(user && isSelf(req, user) ? 'user.photo.updateSelf' : 'user.photo.update', req.auth);
      if (!user) throw faults.directoryNotFound(key as string);
      const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!type.startsWith('image/')) throw faults.badRequest(`The photo must be sent as an image (Content-Type image/jpeg); got '${type || 'none'}'.`);
      if (req.raw.length === 0) throw faults.badRequest('The request body must contain the photo.');
      photos.set(user.id, req.raw, type);
      return { status: 200 };
    },
  };

  const p = (req: GraphRequest, i: number) => req.params[i] as string;
  return [
    { method: 'GET', path: 'users/:id/photo', handle: (req) => handlers.photo(req, p(req, 0)) },
    { method: 'GET', path: 'me/photo', handle: (req) => handlers.photo(req, undefined) },
    { method: 'GET', path: 'users/:id/photo/$value', handle: (req) => handlers.photoValue(req, p(req, 0)) },
    { method: 'GET', path: 'me/photo/$value', handle: (req) => handlers.photoValue(req, undefined) },
    { method: 'GET', path: 'users/:id/photos', handle: (req) => handlers.photos(req, p(req, 0)) },
    { method: 'GET', path: 'me/photos', handle: (req) => handlers.photos(req, undefined) },
    { method: 'GET', path: 'users/:id/photos/:size', handle: (req) => handlers.size(req, p(req, 0), p(req, 1)) },
    { method: 'GET', path: 'me/photos/:size', handle: (req) => handlers.size(req, undefined, p(req, 0)) },
    { method: 'GET', path: 'users/:id/photos/:size/$value', handle: (req) => handlers.sizeValue(req, p(req, 0), p(req, 1)) },
    { method: 'GET', path: 'me/photos/:size/$value', handle: (req) => handlers.sizeValue(req, undefined, p(req, 0)) },
    { method: 'PUT', path: 'users/:id/photo/$value', handle: (req) => handlers.update(req, p(req, 0)) },
    { method: 'PATCH', path: 'users/:id/photo/$value', handle: (req) => handlers.update(req, p(req, 0)) },
    { method: 'PUT', path: 'me/photo/$value', handle: (req) => handlers.update(req, undefined) },
    { method: 'PATCH', path: 'me/photo/$value', handle: (req) => handlers.update(req, undefined) },
  ];
}
