import type { Knex } from 'knex';
import { GlintError } from '../domain/errors';
import type { ImageMember, MemberStatus } from '../domain/image';
import type { MemberRepository } from '../domain/repositories';
import { isForeignKeyViolation, isUniqueViolation, toDate, toNumber, type DbInteger } from './sql';

interface MemberRow {
  image_id: string;
  member: string;
  status: string;
  created_at: DbInteger;
  updated_at: DbInteger;
}

function toMember(row: MemberRow): ImageMember {
  return {
    imageId: row.image_id,
    memberId: row.member,
    status: row.status as MemberStatus,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export class KnexMemberRepository implements MemberRepository {
  constructor(private readonly knex: Knex) {}

  async list(imageId: string): Promise<ImageMember[]> {
    const rows: MemberRow[] = await this.knex<MemberRow>('image_members')
      .select('*')
      .where('image_id', imageId)
      .orderBy([{ column: 'created_at' }, { column: 'member' }]);
    return rows.map(toMember);
  }

  async get(imageId: string, memberId: string): Promise<ImageMember | null> {
    const row: MemberRow | undefined = await this.knex<MemberRow>('image_members')
      .select('*')
      .where({ image_id: imageId, member: memberId })
      .first();
    return row ? toMember(row) : null;
  }

  async add(imageId: string, memberId: string): Promise<ImageMember> {
    const now = Date.now();
    const row: MemberRow = { image_id: imageId, member: memberId, status: 'pending', created_at: now, updated_at: now };
    try {
      await this.knex('image_members').insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new GlintError('MEMBER_EXISTS', `Member ${memberId} already has access to image ${imageId}.`, undefined, { cause: err });
      }
      if (isForeignKeyViolation(err)) {
        throw new GlintError('IMAGE_NOT_FOUND', `No image found with ID ${imageId}.`, undefined, { cause: err });
      }
      throw err;
    }
    return toMember(row);
  }

  async setStatus(imageId: string, memberId: string, status: MemberStatus): Promise<ImageMember | null> {
    const updated = await this.knex('image_members')
      .where({ image_id: imageId, member: memberId })
      .update({ status, updated_at: Date.now() });
    return updated === 0 ? null : this.get(imageId, memberId);
  }

  async remove(imageId: string, memberId: string): Promise<boolean> {
    const removed = await this.knex('image_members').where({ image_id: imageId, member: memberId }).delete();
    return removed > 0;
  }

  async count(imageId: string): Promise<number> {
    const [result] = (await this.knex('image_members').where('image_id', imageId).count({ count: '*' })) as Array<{
      count: DbInteger;
    }>;
    return result ? toNumber(result.count) : 0;
  }
}
