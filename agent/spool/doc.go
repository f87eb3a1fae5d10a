// Package spool keeps an agent's recordings on disk until the server has them: every segment
// is sealed with age to the tenant's recipient before it reaches disk, and a bbolt index
// queues it for upload and records its state (sealed, uploading, acked).
//
// A recording writes through [Spool.Recording], whose Init, Segment and Finish methods have
// the method set of the recorder's Store; an uploader drains the queue with [Spool.Pending],
// [Spool.OpenSealed], [Spool.MarkUploading], [Spool.MarkAcked] and [Spool.MarkFailed]. The
// agent holds no identity, so it can never read its own spool: what the uploader needs (ids,
// sequence numbers, timings, sizes and digests of the sealed bytes) is kept in clear in the
// index, and everything else, the manifest with its titles included, is sealed.
//
// Layout of a spool directory:
//
//	spool.db                          bbolt index (no media, no titles)
//	segments/REC/manifest.age         the recording's latest manifest, sealed
//	segments/REC/finished             empty marker written by Finish
//	segments/REC/TRACK/init.age       a track's init segment, sealed
//	segments/REC/TRACK/000001.age     media segment 1, sealed
//
// Every file is written under a temporary name, synced, renamed and its directory synced;
// only then does a bbolt transaction index it. [Open] reconciles the two after a crash; see
// [Recovered].
//
// # Caveats
//
// The digest kept for a segment is that of its sealed bytes, which is what the server stores
// and compares. Sealing is randomized, so sealing the same plaintext twice gives a different
// digest: a segment is spooled once, and a second Segment call for it fails with ErrExists.
//
// A segment whose file was renamed into place but whose index transaction did not commit
// (a crash between the two) is re-indexed by Open with its digest recomputed from the file,
// but without its start and duration, which live only in the sealed manifest; such items
// have Reindexed set and Duration zero.
//
// When the index fails its check it is moved aside and rebuilt from the files. States that
// exist only in the index are then lost: attempts, last errors, and acked segments whose
// files were retained come back as sealed and are uploaded again (the server must treat an
// upload of bytes it already holds with the same digest as success).
//
// bbolt's tx.Check runs in a goroutine of its own, where a fault on a scribbled page cannot
// be recovered. Open therefore first walks every index entry itself with faults turned into
// panics it recovers, which catches the damage Check would trip on in practice; it is not a
// proof that a maliciously crafted file cannot crash the process.
//
// Quota and free space are checked before a segment is written, against the sealed size, so
// a refused write leaves nothing behind. Other processes filling the disk between the check
// and the write still produce a plain write error (wrapping syscall.ENOSPC); nothing is then
// indexed and the temporary file is removed.
package spool
