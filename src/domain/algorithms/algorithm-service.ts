import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import { type ErrorCode, fail, GlintError, isGlintError } from '../errors';
import type { AlgorithmChanges, AlgorithmImage, NewAlgorithmImage } from './algorithm';
import {
  type DeleteAlgorithm,
  type ExportedAlgorithm,
  type ImportEntry,
  type ImportFailure,
  isRejectedEntry,
  type RegisterAlgorithm,
  type SearchAlgorithms,
  type UpdateAlgorithm,
} from './algorithm-commands';
import type { AlgorithmRepository } from './algorithm-repository';
import { dependencyRefs, firstBrokenRule, oversizedField } from './algorithm-rules';

/** The authority level of the platform's user module that may only touch its own namespace. */
export const NAMESPACE_SCOPED_AUTHORITY = '3';

const RULE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  ALGORITHM_NAME_INVALID: 'The image name must start and end with a digit or lower-case letter, with digits, lower-case letters and /._- between.',
  ALGORITHM_TAG_INVALID: 'The tag must start and end with a digit or lower-case letter, with digits, lower-case letters and ._/- between.',
  ALGORITHM_DESCRIPTION_INVALID: 'The description must not be only whitespace.',
  ALGORITHM_PORTS_INVALID: 'Ports must be type:port items (type in a-z).',
  ALGORITHM_MOUNTS_INVALID: 'Mounts must be absolute paths.',
  ALGORITHM_CONFIG_INVALID: 'Config must list absolute file paths.',
  ALGORITHM_SUB_PATHS_INVALID: 'Sub-paths must be src:dst items.',
  ALGORITHM_HOST_PATHS_INVALID: 'Host paths must be host:container items.',
  ALGORITHM_WORKING_DIR_INVALID: 'The working directory must be an absolute path.',
  ALGORITHM_TYPE_INVALID: 'The algorithm type must be 0, 1 or 2.',
  ALGORITHM_ENV_INVALID: 'Environment variables must be NAME:VALUE items.',
  ALGORITHM_PVC_SIZE_INVALID: 'The PVC size must be between 1 and 20.',
  ALGORITHM_FRAME_INTERVAL_MISSING: 'A self-developed algorithm needs a frame interval.',
  ALGORITHM_FRAME_NUMBER_MISSING: 'A self-developed algorithm needs a frame number.',
  ALGORITHM_DEPENDENCIES_INVALID: 'Dependencies must be name:tag items.',
};

export interface AlgorithmServiceOptions {
  algorithms: AlgorithmRepository;
  logger: Logger;
}

/**
 * The algorithm registry: register, search, update, delete, export and import algorithm images.
 * Failures are GlintErrors with the registry's codes, reported in the order the platform checked
 * them: field rules, then existence and naming, then dependencies, then the write.
 */
export class AlgorithmService {
  private readonly algorithms: AlgorithmRepository;
  private readonly logger: Logger;

  constructor(options: AlgorithmServiceOptions) {
    this.algorithms = options.algorithms;
    this.logger = options.logger;
  }

  async register(command: RegisterAlgorithm): Promise<AlgorithmImage> {
    checkRules(command);
    if (await this.algorithms.findByNameTag(command.name, command.tag)) {
      fail('ALGORITHM_EXISTS', `An algorithm image ${command.name}:${command.tag} exists.`);
    }
    const oversized = oversizedField(command);
    if (oversized) fail('ALGORITHM_INSERT_FAILED', `${oversized} is too long to be stored.`);
    const { dependencies: _given, eventType, ...fields } = command;
    const record: NewAlgorithmImage = {
      ...fields,
      id: randomUUID().replace(/-/g, ''),
      // a supplied number is kept; 0, negative or none takes the next free one
      eventType: eventType !== null && eventType > 0 ? eventType : null,
    };
    try {
      return await this.algorithms.create(record, dependencyRefs(command));
    } catch (err) {
      throw this.writeFailure(err, 'ALGORITHM_INSERT_FAILED', 'register', record.id);
    }
  }

  async search(query: SearchAlgorithms): Promise<AlgorithmImage[]> {
    return this.algorithms.search({ namePrefix: query.namePrefix || null, nameContains: query.nameContains || null });
  }

  /**
   * Writes the fields given with a value (not null, not empty, not 0); the name and tag must be the
   * record's own, and pvcSize, eventType, incidentId and useableFlag never change. Dependencies
   * are replaced only when a self-developed algorithm gives some.
   */
  async update(command: UpdateAlgorithm): Promise<AlgorithmImage> {
    checkRules(command);
    const current = await this.algorithms.get(command.id);
    if (!current) fail('ALGORITHM_NOT_FOUND', `No algorithm image with id ${command.id}.`);
    if (current.name !== command.name || current.tag !== command.tag) {
      fail('ALGORITHM_RENAME_NOT_ALLOWED', 'The name and tag of an algorithm image cannot change.');
    }
    const oversized = oversizedField(command);
    if (oversized) fail('ALGORITHM_UPDATE_FAILED', `${oversized} is too long to be stored.`);
    let updated: AlgorithmImage | null;
    try {
      updated = await this.algorithms.update(command.id, changesOf(command), dependencyRefs(command));
    } catch (err) {
      throw this.writeFailure(err, 'ALGORITHM_UPDATE_FAILED', 'update', command.id);
    }
    if (!updated) fail('ALGORITHM_NOT_FOUND', `No algorithm image with id ${command.id}.`);
    return updated;
  }

  /** Refused while a live record depends on it, and outside the caller's namespace for scoped authorities. */
  async delete(command: DeleteAlgorithm): Promise<void> {
    const current = await this.algorithms.get(command.id);
    if (!current) fail('ALGORITHM_NOT_FOUND', `No algorithm image with id ${command.id}.`);
    if (await this.algorithms.hasLiveDependents(current.eventType, current.id)) {
      fail('ALGORITHM_DEPENDED_ON', 'Other algorithm images depend on this one.');
    }
    const { authority, namespace } = command.caller;
    if (authority === NAMESPACE_SCOPED_AUTHORITY && (namespace === null || !current.name.startsWith(namespace))) {
      fail('ALGORITHM_NAMESPACE_FORBIDDEN', 'The algorithm image is outside the caller namespace.');
    }
    let outcome: Awaited<ReturnType<AlgorithmRepository['markDeleted']>>;
    try {
      outcome = await this.algorithms.markDeleted(command.id);
    } catch (err) {
      throw this.writeFailure(err, 'ALGORITHM_DELETE_FAILED', 'delete', command.id);
    }
    if (outcome === 'not_found') fail('ALGORITHM_NOT_FOUND', `No algorithm image with id ${command.id}.`);
    if (outcome === 'depended_on') fail('ALGORITHM_DEPENDED_ON', 'Other algorithm images depend on this one.');
  }

  /**
   * The records whose name contains `nameContains`, each with its dependencies written back as
   * `name:tag` of the live records holding those event types (null when none is live any more):
   * the form `import` takes. Records come in name order, except that a record's dependencies
   * among them come before it, so importing the export in order resolves every one.
   */
  async export(nameContains: string | null): Promise<ExportedAlgorithm[]> {
    const images = dependenciesFirst(await this.search({ namePrefix: null, nameContains }));
    const eventTypes = new Set<number>();
    for (const image of images) for (const eventType of image.dependsOn ?? []) eventTypes.add(eventType);
    const names = eventTypes.size > 0 ? await this.algorithms.namesByEventType([...eventTypes]) : new Map();
    return images.map((image) => {
      const refs = (image.dependsOn ?? []).flatMap((eventType) => names.get(eventType) ?? []);
      return { image, dependencies: refs.length > 0 ? refs.map((ref) => `${ref.name}:${ref.tag}`).join(',') : null };
    });
  }

  /**
   * Registers each entry in order, each in its own transaction, and goes on after a failure: an
   * entry's dependencies must come before it (or exist already). Returns the failures in order.
   */
  async import(entries: Iterable<ImportEntry>): Promise<ImportFailure[]> {
    const failures: ImportFailure[] = [];
    for (const entry of entries) {
      if (isRejectedEntry(entry)) {
        failures.push({ name: entry.name, tag: entry.tag, reason: entry.reason });
        continue;
      }
      try {
        await this.register(entry);
      } catch (err) {
        if (!(err instanceof GlintError)) throw err;
        failures.push({ name: entry.name, tag: entry.tag, reason: err });
      }
    }
    return failures;
  }

  /** The registry's own errors pass; anything else (the database) is logged and reported as `code`. */
  private writeFailure(err: unknown, code: ErrorCode, operation: string, id: string): GlintError {
    if (isGlintError(err)) return err;
    this.logger.error(`algorithm ${operation} failed`, { id, error: (err as Error)?.stack ?? String(err) });
    return new GlintError(code, `The algorithm image could not be stored (${operation}).`, undefined, { cause: err });
  }
}

function checkRules(fields: RegisterAlgorithm): void {
  const broken = firstBrokenRule(fields);
  if (broken) fail(broken, RULE_MESSAGES[broken] ?? 'Invalid algorithm image.');
}

const hasValue = <T>(value: T | null): value is T => value !== null && value !== '' && value !== 0;

/** The fields an update writes: those given with a value. */
function changesOf(command: UpdateAlgorithm): AlgorithmChanges {
  const candidates: AlgorithmChanges = {
    ports: command.ports,
    mounts: command.mounts,
    factory: command.factory,
    algoName: command.algoName,
    algoDesc: command.algoDesc,
    tvChannel: command.tvChannel,
    pics: command.pics,
    cpuRequests: command.cpuRequests,
    gpuRequests: command.gpuRequests,
    memRequests: command.memRequests,
    config: command.config,
    algoType: command.algoType,
    subPaths: command.subPaths,
    hostPaths: command.hostPaths,
    workingDir: command.workingDir,
    env: command.env,
    command: command.command,
    args: command.args,
    frameInterval: command.frameInterval,
    frameNumber: command.frameNumber,
  };
  return Object.fromEntries(Object.entries(candidates).filter(([, value]) => hasValue(value))) as AlgorithmChanges;
}

/** `images` in their order, each moved after the images it depends on (a cycle keeps the first order). */
function dependenciesFirst(images: AlgorithmImage[]): AlgorithmImage[] {
  const byEventType = new Map(images.map((image) => [image.eventType, image]));
  const placed = new Set<string>();
  const ordered: AlgorithmImage[] = [];
  for (const root of images) {
    // depth-first without recursion: a frame is an image and how many of its dependencies were visited
    const stack: Array<{ image: AlgorithmImage; next: number }> = [{ image: root, next: 0 }];
    const onStack = new Set<string>([root.id]);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (placed.has(frame.image.id)) {
        stack.pop();
        continue;
      }
      const dependsOn = frame.image.dependsOn ?? [];
      if (frame.next < dependsOn.length) {
        const dependency = byEventType.get(dependsOn[frame.next++]);
        if (dependency && !placed.has(dependency.id) && !onStack.has(dependency.id)) {
          onStack.add(dependency.id);
          stack.push({ image: dependency, next: 0 });
        }
        continue;
      }
      stack.pop();
      onStack.delete(frame.image.id);
      placed.add(frame.image.id);
      ordered.push(frame.image);
    }
  }
  return ordered;
}
