// Package blob is where the Aula server keeps segment objects: init and media segments of
// each track, already sealed by the agent and stored as opaque bytes. It offers one small
// Store interface with a filesystem implementation (the default) and an S3 one, and a Key
// type that is the only way to name an object, so nothing a client sends reaches a path or
// a bucket key unchecked.
//
// Optional abilities (Stager, Deleter, Lister, Stater) are separate interfaces, found by
// type assertion, in the manner of tusd's data stores.
//
// # Caveats
//
//   - Get's reader from the S3 store is tied to the context given to Get: read it before
//     that context is done.
//   - On Linux, FS writes objects with O_DIRECT where the filesystem takes it, so they do
//     not pass through the page cache on their way in: an object is read from the disk the
//     first time it is played. O_TMPFILE files are named through /proc/self/fd; without
//     /proc, FS falls back to named temporary files.
//   - FS never removes directories, even when their last object is deleted, so that a
//     concurrent Put into the same track never loses its directory.
//   - S3 Put holds up to S3Config.PartSize bytes of a body in memory at a time (see S3.Put
//     for why it does not stream).
//   - A multipart upload that fails and cannot be aborted (the server unreachable) leaves
//     parts behind: give the bucket a lifecycle rule that aborts incomplete multipart
//     uploads after a day.
//   - List skips objects whose names are not keys of this package (foreign files, FS
//     temporary files).
package blob
