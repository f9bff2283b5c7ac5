import type { Context } from 'koa';
import type { ErrorCode, GlintError } from '../../../domain/errors';
import type { HttpProblem } from '../../errors';

/**
 * The algoPlatform wire envelope: `{"status": "<code>", "res": …, "msg": …}` in that key order,
 * `status` a string ("0" = success). Business outcomes, failed ones included, are HTTP 200; only
 * requests that cannot be read (malformed JSON, wrong types, missing required fields, bodies over
 * the cap, no such route, no valid token) get a 4xx, still with an envelope, status "-1".
 */
export interface Envelope {
  status: string;
  res: unknown;
  msg: string | null;
}

export const FAILED = '-1';

/** The platform's status code and message for each registry error (HTTP 200). */
const OUTCOMES: Partial<Record<ErrorCode, { status: string; msg: string | null }>> = {
  ALGORITHM_NAME_INVALID: { status: '221', msg: '镜像名称格式：首尾字符为数字或小写字母，中间字符为数字或小写字母或特殊字符/.-_' },
  ALGORITHM_TAG_INVALID: { status: '222', msg: 'tag格式：首尾字符为数字或小写字母，中间字符为数字或小写字母或特殊字符.-_' },
  ALGORITHM_DESCRIPTION_INVALID: { status: '202', msg: '输入格式有误' },
  ALGORITHM_PORTS_INVALID: { status: '208', msg: '端口格式：端口类型：端口号，端口类型：端口号,端口类型为a-z小写字母。例：ssh：22，jupyter：8888' },
  ALGORITHM_MOUNTS_INVALID: { status: '215', msg: '请输入合法的路径名称。例/data-ym/vol_09' },
  ALGORITHM_CONFIG_INVALID: { status: '209', msg: '请输入正确的配置文件信息，可包含：“A-Za-z0-9.-”例/data/gelin-k8s.config' },
  ALGORITHM_SUB_PATHS_INVALID: { status: '210', msg: '请输入合法的子目录映射。例/data-ym/vol.config:/data/vol.config' },
  ALGORITHM_HOST_PATHS_INVALID: { status: '223', msg: '请输入合法的主机目录映射。例/data-ym/vol:/data/vol' },
  ALGORITHM_WORKING_DIR_INVALID: { status: '214', msg: '请输入合法的路径名称。例/data-ym/vol_09' },
  ALGORITHM_TYPE_INVALID: { status: '211', msg: '请输入合法的算法类型:0或1或2' },
  ALGORITHM_ENV_INVALID: { status: '217', msg: '请输入合法环境变量，例如 NAME:ZHANGSAN9527' },
  ALGORITHM_PVC_SIZE_INVALID: { status: '231', msg: 'pvc申请容量范围为[1,20]' },
  ALGORITHM_FRAME_INTERVAL_MISSING: { status: '502', msg: 'frameInterval不能为空' },
  ALGORITHM_FRAME_NUMBER_MISSING: { status: '503', msg: 'frameNumber不能为空' },
  ALGORITHM_DEPENDENCIES_INVALID: { status: '216', msg: '自研算法算法依赖不能为空' },
  ALGORITHM_EXISTS: { status: '203', msg: '已存在此镜像' },
  ALGORITHM_NOT_FOUND: { status: '204', msg: '镜像不存在' },
  ALGORITHM_RENAME_NOT_ALLOWED: { status: '219', msg: '不支持算法名称和标签更改' },
  ALGORITHM_DEPENDED_ON: { status: '220', msg: '无法删除被依赖镜像' },
  ALGORITHM_NAMESPACE_FORBIDDEN: { status: '240', msg: '权限异常' },
  ALGORITHM_DEPENDENCY_NOT_FOUND: { status: '308', msg: '请检查依赖算法是否正确：镜像名:标签名,镜像名:标签名' },
  // the message names the number: "eventType <n> already exists" (the domain's own message)
  ALGORITHM_EVENT_TYPE_IN_USE: { status: FAILED, msg: null },
  ALGORITHM_INSERT_FAILED: { status: '504', msg: 'image插入失败' },
  ALGORITHM_UPDATE_FAILED: { status: '505', msg: 'image更新失败' },
  ALGORITHM_DELETE_FAILED: { status: '506', msg: 'image删除更新失败' },
};

export const MESSAGES = {
  registered: '注册成功',
  found: '查询成功',
  updated: '更新成功',
  deleted: '删除成功',
  exported: '镜像下载成功',
  imported: '镜像导入成功',
  unreadableFile: '镜像导入异常，文件读取失败',
  /** `_search`'s `res.data` when nothing matches. */
  noResults: 'no such results',
} as const;

export function success(res: unknown, msg: string): Envelope {
  return { status: '0', res, msg };
}

export function failure(msg: string, status = FAILED): Envelope {
  return { status, res: null, msg };
}

/** The envelope of a registry outcome, or null when `code` is not one (the request itself failed). */
export function outcomeOf(code: ErrorCode, message: string): Envelope | null {
  const outcome = OUTCOMES[code];
  return outcome ? failure(outcome.msg ?? message, outcome.status) : null;
}

/** The message an error shows in the envelope (and in `_upload`'s per-entry report). */
export function messageOf(err: GlintError): string {
  return outcomeOf(err.code, err.message)?.msg ?? err.message;
}

export function sendEnvelope(ctx: Context, envelope: Envelope, httpStatus = 200): void {
  ctx.status = httpStatus;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify({ status: envelope.status, res: envelope.res, msg: envelope.msg });
}

/** The surface's error body: a registry outcome is a 200 envelope; anything else keeps its status. */
export function writeAlgoPlatformError(ctx: Context, problem: HttpProblem): void {
  const outcome = outcomeOf(problem.code as ErrorCode, problem.message);
  if (outcome) return sendEnvelope(ctx, outcome);
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  sendEnvelope(ctx, failure(problem.expose ? problem.message : 'Internal Server Error'), problem.status);
}
