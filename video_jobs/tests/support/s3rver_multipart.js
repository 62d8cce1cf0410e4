'use strict';
// The multipart calls s3rver 4.0.4 lacks (it has CreateMultipartUpload, UploadPart and
// CompleteMultipartUpload, and answers 405 or 501 to the rest), added to its own router so that they pass
// through its SigV4 check like every other request: ListParts, AbortMultipartUpload and
// ListMultipartUploads. They read the parts s3rver keeps on disk
// (<bucket>/._S3rver_uploads/<upload id>/{key,metadata,N,N.md5}), so a multi-gigabyte upload never sits
// in memory (moto assembles one in memory, several copies of it).
//
// Usage: require(this file)(path of the @20minutes/s3rver package), before its command line starts.

const fs = require('fs/promises');
const path = require('path');

const XMLNS = { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' };

module.exports = function extend(packageDir) {
  const router = require(path.join(packageDir, 'lib', 'routes.js'));
  const S3Error = require(path.join(packageDir, 'lib', 'models', 'error.js'));

  const uploadsDir = (ctx) => ctx.store.getResourcePath(ctx.params.bucket, undefined, 'uploads');

  const noSuchUpload = (uploadId) =>
    new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });

  // The directory of the upload named in the query, for the key in the path; NoSuchUpload otherwise.
  async function uploadDir(ctx) {
    const uploadId = ctx.query.uploadId;
    if (!/^[0-9a-f]+$/.test(uploadId)) throw noSuchUpload(uploadId);
    const dir = path.join(uploadsDir(ctx), uploadId);
    const key = await fs.readFile(path.join(dir, 'key'), 'utf8').catch((err) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (key !== ctx.params.key) throw noSuchUpload(uploadId);
    return dir;
  }

  // A part is listed once it is whole: s3rver writes its .md5 after the last byte.
  async function part(dir, number) {
    try {
      const [stat, md5] = await Promise.all([
        fs.stat(path.join(dir, String(number))),
        fs.readFile(path.join(dir, `${number}.md5`), 'utf8'),
      ]);
      return { PartNumber: number, LastModified: stat.mtime.toISOString(), ETag: `"${md5}"`, Size: stat.size };
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw err;
    }
  }

  async function listParts(ctx) {
    const dir = await uploadDir(ctx);
    const marker = Number(ctx.query['part-number-marker'] || 0);
    const maxParts = Math.min(Number(ctx.query['max-parts'] || 1000), 1000);
    const numbers = (await fs.readdir(dir))
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((number) => number > marker)
      .sort((a, b) => a - b);
    const page = (await Promise.all(numbers.slice(0, maxParts).map((n) => part(dir, n)))).filter(Boolean);
    ctx.body = {
      ListPartsResult: {
        '@': XMLNS,
        Bucket: ctx.params.bucket,
        Key: ctx.params.key,
        UploadId: ctx.query.uploadId,
        PartNumberMarker: marker,
        NextPartNumberMarker: page.length ? page[page.length - 1].PartNumber : marker,
        MaxParts: maxParts,
        IsTruncated: numbers.length > maxParts,
        Part: page,
      },
    };
  }

  async function abortMultipartUpload(ctx) {
    await fs.rm(await uploadDir(ctx), { recursive: true, force: true });
    ctx.status = 204;
  }

  async function listMultipartUploads(ctx) {
    const prefix = ctx.query.prefix || '';
    const root = uploadsDir(ctx);
    const ids = await fs.readdir(root).catch((err) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const uploads = [];
    for (const uploadId of ids.sort()) {
      const keyPath = path.join(root, uploadId, 'key');
      const [key, stat] = await Promise.all([fs.readFile(keyPath, 'utf8'), fs.stat(keyPath)]).catch(() => []);
      if (key !== undefined && key.startsWith(prefix)) {
        uploads.push({ Key: key, UploadId: uploadId, Initiated: stat.mtime.toISOString() });
      }
    }
    ctx.body = {
      ListMultipartUploadsResult: {
        '@': XMLNS,
        Bucket: ctx.params.bucket,
        Prefix: prefix,
        MaxUploads: 1000,
        IsTruncated: false,
        Upload: uploads,
      },
    };
  }

  // Each route's last middleware is s3rver's switch on the query method: ours go in front of it.
  function intercept(method, routePath, queryMethod, handler) {
    const layer = router.stack.find((l) => l.path === routePath && l.methods.includes(method));
    if (!layer) throw new Error(`s3rver has no ${method} ${routePath} route to extend`);
    const last = layer.stack.length - 1;
    const original = layer.stack[last];
    layer.stack[last] = (ctx, next) =>
      ctx.params.queryMethod === queryMethod ? handler(ctx) : original(ctx, next);
  }

  intercept('GET', '/:bucket/:key+', 'uploadId', listParts);
  intercept('DELETE', '/:bucket/:key+', 'uploadId', abortMultipartUpload);
  intercept('GET', '/:bucket', 'uploads', listMultipartUploads);
};
