/**
 * Profile photo endpoints of users, for /users/{id | userPrincipalName} and /me alike:
 * - GET .../photo (metadata of the largest available size), GET .../photo/$value (the photo at that size), GET
 *   .../photos (metadata of every available size), GET .../photos/{size} and GET .../photos/{size}/$value
 *   (https://learn.microsoft.com/en-us/graph/api/profilephoto-get): "If successful, this method returns a 200 OK
 *   response code and binary data of the requested photo. If no photo exists, the operation returns 404 Not Found."
 *   Each size is served at that size with the photo's own Content-Type; a size larger than the photo is not
 *   available ("if the user uploads a photo that is 504x504 pixels, all but the 648x648 size of photo will be
 *   available") and answers as a missing photo, as does a size Learn does not list (photos.ts).
 *   Learn does not name the error code; Graph's is ImageNotFound with the text below (as reported in
 *   https://github.com/microsoftgraph/msgraph-sdk-dotnet-core/issues/851). The emulator answers 404 for the metadata
 *   too (Learn's example shows a 1x1 placeholder, which Graph no longer returns:
 *   https://github.com/microsoftgraph/microsoft-graph-docs/issues/20785), and an empty list for GET .../photos.
 * - PUT or PATCH .../photo/$value with the image as the body (https://learn.microsoft.com/en-us/graph/api/profilephoto-update:
 *   "You can use either PATCH or PUT", "Content-Type image/jpeg. Required.", limited to 4 MB, "If successful, this
 *   method returns a 200 OK response code"). The emulator takes JPEG and PNG (by their bytes, any image/* type) and
 *   refuses anything it cannot decode with 400 (Learn does not document that answer).
 */
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { ImageError } from './image.js';
import { odataContext, type GraphReply, type GraphRequest, type Route } from './graph-router.js';
import { authorize } from './permissions.js';
import { photoSize, PhotoStore, type PhotoSize, type StoredPhoto } from './photos.js';

function imageNotFound(): GraphFault {
  return new GraphFault(404, 'ImageNotFound', "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.");
}

export function photoRoutes(directory: Directory, photos: PhotoStore, url: string): Route[] {
  /** The user the path names (users/{key} or me); undefined key means /me. */
  const target = (req: GraphRequest, key: string | undefined): DirectoryUser => {
    if (key === undefined && (req.auth.kind !== 'delegated' || !req.auth.userId)) throw faults.badRequest('/me request is only valid with delegated authentication flow.');
    const k = key ?? (req.auth.userId as string);
    const user = directory.find(k);
    if (!user || !directory.isVisible(user)) throw faults.directoryNotFound(k);
    return user;
  };
  const isSelf = (req: GraphRequest, user: DirectoryUser) => req.auth.kind === 'delegated' && user.id.toLowerCase() === req.auth.userId?.toLowerCase();

  const read = (req: GraphRequest, key: string | undefined): { user: DirectoryUser; photo: StoredPhoto | undefined } => {
    authorize('user.photo.read', req.auth);
    const user = target(req, key);
    return { user, photo: photos.get(user.id) };
  };

  /** A size Learn lists and the photo offers; otherwise Graph's missing photo. */
  const sizeOf = (photo: StoredPhoto, raw: string): PhotoSize => {
    const size = photoSize(raw);
    if (!size || !photo.sizes.some((s) => s.id === size.id)) throw imageNotFound();
    return size;
  };

  /** The photo as /photo shows it: its largest HD size, or its own size when it has none. */
  const own = (photo: StoredPhoto): PhotoSize => PhotoStore.largest(photo) ?? { id: `${photo.width}x${photo.height}`, width: photo.width, height: photo.height };

  const metadata = (photo: StoredPhoto, size: PhotoSize) => ({
    '@odata.mediaContentType': photo.contentType,
    '@odata.mediaEtag': photo.etag,
    id: size.id,
    width: size.width,
    height: size.height,
  });

  const bytes = (photo: StoredPhoto, size: PhotoSize): GraphReply => ({
    status: 200,
    binary: PhotoStore.at(photo, size) ?? photo.bytes,
    headers: { 'Content-Type': photo.contentType, ETag: photo.etag },
  });

  const handlers = {
    photo: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { user, photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return {
        status: 200,
        body: {
          '@odata.context': odataContext(url, `users('${user.id}')/photo/$entity`),
          '@odata.id': `${url}/v1.0/users('${user.id}')/photo`,
          ...metadata(photo, own(photo)),
        },
      };
    },
    photoValue: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return bytes(photo, own(photo));
    },
    photos: (req: GraphRequest, key: string | undefined): GraphReply => {
      const { user, photo } = read(req, key);
      return {
        status: 200,
        body: {
          '@odata.context': odataContext(url, `users('${user.id}')/photos`),
          value: photo ? photo.sizes.map((s) => metadata(photo, s)) : [],
        },
      };
    },
    size: (req: GraphRequest, key: string | undefined, raw: string): GraphReply => {
      const { user, photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return { status: 200, body: { '@odata.context': odataContext(url, `users('${user.id}')/photos/$entity`), ...metadata(photo, sizeOf(photo, raw)) } };
    },
    sizeValue: (req: GraphRequest, key: string | undefined, raw: string): GraphReply => {
      const { photo } = read(req, key);
      if (!photo) throw imageNotFound();
      return bytes(photo, sizeOf(photo, raw));
    },
    update: (req: GraphRequest, key: string | undefined): GraphReply => {
      const user = key === undefined ? target(req, undefined) : directory.find(key);
      authorize(user && isSelf(req, user) ? 'user.photo.updateSelf' : 'user.photo.update', req.auth);
      if (!user || !directory.isVisible(user)) throw faults.directoryNotFound(key as string);
      const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!type.startsWith('image/')) throw faults.badRequest(`The photo must be sent as an image (Content-Type image/jpeg); got '${type || 'none'}'.`);
      if (req.raw.length === 0) throw faults.badRequest('The request body must contain the photo.');
      try {
        photos.set(user.id, req.raw);
      } catch (err) {
        if (err instanceof ImageError) throw faults.badRequest(`The photo cannot be used: ${err.message}.`);
        throw err;
      }
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
