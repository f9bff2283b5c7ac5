import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { fail } from '../domain/errors';
import type {
  ChunkedUpload,
  ChunkedUploadRepository,
  ChunkedUploadStatus,
  ClaimedMerge,
  NewChunk,
  PutChunkOptions,
  RemoveCondition,
  UploadChunk,
  UploadName,
} from '../domain/file-management/chunked-upload-repository';
import type { StoredObject } from '../domain/stored-object';
import { inTransaction, isUniqueViolation, toDate, toNumber, type DbInteger } from './sql';

interface UploadRow {
  id: string;
  surface: string;
  client_key: string;
  store_id: string;
  status: string;
  created_at: DbInteger;
  updated_at: DbInteger;
  expires_at: DbInteger | null;
}

interface ChunkRow {
  chunk_index: DbInteger;
  object_key: string;
  size: DbInteger;
  md5: string | null;
}

const UPLOAD_COLUMNS = ['id', 'surface', 'client_key', 'store_id', 'status', 'created_at', 'updated_at', 'expires_at'];
/** Attempts of putChunk when another node creates the same upload at the same moment. */
const CREATE_ATTEMPTS = 3;

function toUpload(row: UploadRow): ChunkedUpload {
  return {
    id: row.id,
    surface: row.surface,
    clientKey: row.client_key,
    storeId: row.store_id,
    status: row.status as ChunkedUploadStatus,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    expiresAt: toDate(row.expires_at ?? 0),
  };
}

function toChunk(row: ChunkRow): UploadChunk {
  return { index: toNumber(row.chunk_index), objectKey: row.object_key, size: toNumber(row.size), md5: row.md5 ?? '' };
}

/**
 * Chunked uploads in `chunked_uploads` and `upload_chunks`. Every transaction that changes an
 * upload's chunks starts with a conditional UPDATE of the upload's row: the row lock it takes
 * (InnoDB; SQLite serializes writers anyway) orders chunk writes, merge claims and removals of one
 * upload, and the condition tells the loser what happened. Reads after that update in the same
 * transaction see every chunk committed before it.
 */
export class KnexChunkedUploadRepository implements ChunkedUploadRepository {
  constructor(private readonly knex: Knex) {}

  async putChunk(name: UploadName, chunk: NewChunk, options: PutChunkOptions): Promise<{ replaced: StoredObject | null }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.knex, (trx) => this.putChunkIn(trx, name, chunk, options));
      } catch (err) {
        // another node created the same upload first: its row is there now
        if (!isUniqueViolation(err) || attempt >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  private async putChunkIn(trx: Knex.Transaction, name: UploadName, chunk: NewChunk, options: PutChunkOptions): Promise<{ replaced: StoredObject | null }> {
    const now = options.now.getTime();
    const touched = await trx('chunked_uploads')
      .where({ surface: name.surface, client_key: name.clientKey, status: 'receiving' })
      .update({ updated_at: now, expires_at: options.expiresAt.getTime() });
    let upload: Pick<UploadRow, 'id' | 'store_id'>;
    if (touched === 0) {
      const existing = await trx('chunked_uploads').where({ surface: name.surface, client_key: name.clientKey }).first<UploadRow | undefined>('status');
      if (existing) fail('CHUNKED_UPLOAD_BUSY', `Upload ${name.clientKey} is being merged; no chunk can be added now.`);
      upload = { id: randomUUID(), store_id: options.storeId };
      await trx('chunked_uploads').insert({
        ...upload,
        surface: name.surface,
        client_key: name.clientKey,
        owner: options.owner,
        user_id: options.userId,
        status: 'receiving',
        created_at: now,
        updated_at: now,
        expires_at: options.expiresAt.getTime(),
      });
    } else {
      upload = await trx('chunked_uploads').where({ surface: name.surface, client_key: name.clientKey }).first<Pick<UploadRow, 'id' | 'store_id'>>('id', 'store_id');
    }
    const where = { upload_id: upload.id, chunk_index: chunk.index };
    const previous = await trx('upload_chunks').where(where).first<Pick<ChunkRow, 'object_key'> | undefined>('object_key');
    const values = { object_key: chunk.objectKey, size: chunk.size, md5: chunk.md5, created_at: now };
    if (previous) await trx('upload_chunks').where(where).update(values);
    else await trx('upload_chunks').insert({ ...where, ...values });
    return { replaced: previous ? { storeId: upload.store_id, key: previous.object_key } : null };
  }

  async find(name: UploadName): Promise<ChunkedUpload | null> {
    const row = await this.knex('chunked_uploads').where({ surface: name.surface, client_key: name.clientKey }).first<UploadRow | undefined>(UPLOAD_COLUMNS);
    return row ? toUpload(row) : null;
  }

  async chunks(uploadId: string): Promise<UploadChunk[]> {
    return this.chunksIn(this.knex, uploadId);
  }

  private async chunksIn(db: Knex | Knex.Transaction, uploadId: string): Promise<UploadChunk[]> {
    const rows = await db('upload_chunks').where({ upload_id: uploadId }).orderBy('chunk_index', 'asc').select<ChunkRow[]>('chunk_index', 'object_key', 'size', 'md5');
    return rows.map(toChunk);
  }

  async claimMerge(name: UploadName, expiresAt: Date, now: Date): Promise<ClaimedMerge | null> {
    return inTransaction(this.knex, async (trx) => {
      const claimed = await trx('chunked_uploads')
        .where({ surface: name.surface, client_key: name.clientKey, status: 'receiving' })
        .update({ status: 'merging', updated_at: now.getTime(), expires_at: expiresAt.getTime() });
      if (claimed === 0) return null;
      const row = await trx('chunked_uploads').where({ surface: name.surface, client_key: name.clientKey }).first<UploadRow>(UPLOAD_COLUMNS);
      return { upload: toUpload(row), chunks: await this.chunksIn(trx, row.id) };
    });
  }

  async renewMerge(uploadId: string, expiresAt: Date): Promise<boolean> {
    const renewed = await this.knex('chunked_uploads').where({ id: uploadId, status: 'merging' }).update({ expires_at: expiresAt.getTime() });
    return renewed > 0;
  }

  async releaseMerge(uploadId: string, expiresAt: Date, now: Date): Promise<boolean> {
    const released = await this.knex('chunked_uploads')
      .where({ id: uploadId, status: 'merging' })
      .update({ status: 'receiving', updated_at: now.getTime(), expires_at: expiresAt.getTime() });
    return released > 0;
  }

  async remove(uploadId: string, condition: RemoveCondition): Promise<StoredObject[] | null> {
    return inTransaction(this.knex, async (trx) => {
      // lock the upload first, so no chunk slips in between reading the chunks and deleting them
      const locked = trx('chunked_uploads').where({ id: uploadId });
      if (condition.status !== undefined) locked.andWhere({ status: condition.status });
      if (condition.expiredBefore !== undefined) locked.andWhere('expires_at', '<', condition.expiredBefore.getTime());
      if ((await locked.update({ updated_at: Date.now() })) === 0) return null;
      const upload = await trx('chunked_uploads').where({ id: uploadId }).first<Pick<UploadRow, 'store_id'>>('store_id');
      const chunks = await this.chunksIn(trx, uploadId);
      await trx('upload_chunks').where({ upload_id: uploadId }).delete();
      await trx('chunked_uploads').where({ id: uploadId }).delete();
      return chunks.map((chunk) => ({ storeId: upload.store_id, key: chunk.objectKey }));
    });
  }

  async findExpired(now: Date, limit: number): Promise<ChunkedUpload[]> {
    const rows = await this.knex('chunked_uploads')
      // both statuses: the (status, expires_at) index serves the range
      .whereIn('status', ['receiving', 'merging'])
      .andWhere('expires_at', '<', now.getTime())
      .orderBy('expires_at', 'asc')
      .limit(limit)
      .select<UploadRow[]>(UPLOAD_COLUMNS);
    return rows.map(toUpload);
  }
}
