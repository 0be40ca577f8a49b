// A small HTTP proxy in front of an S3 endpoint for fault-injection tests. It forwards requests
// (path-style addressing: /bucket/key) and, by a programmable rule, answers some of them with an
// S3 error, cuts the connection while the request body arrives or while the response body leaves,
// or never answers. It records every request so tests can check what the client really sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy received. */
export interface RecordedRequest {
  /** 0-based arrival order. */
  index: number;
  method: string;
  /** Decoded path: `/bucket` or `/bucket/key`. */
  path: string;
  query: Record<string, string>;
  /** The S3 operation, guessed from method, path and query (`UploadPart`, `GetObject`…). */
  operation: string;
  /** Request headers that matter to the tests. */
  range?: string;
  ifMatch?: string;
  /** Every `x-amz-*` request header, lower-cased (encryption, storage class, checksums…). */
  amzHeaders: Record<string, string>;
  /** What the proxy did with it. */
  action: string;
  /** Status sent to the client, when it got one. */
  status?: number;
}

/**
 * What to do with a request: forward it (`pass`), answer an S3 error (`{status, code}`), cut the
 * connection after the first bytes of the request body (`drop-request`), forward and cut the
 * response after half its body (`drop-response-mid-body`), or hold it without an answer (`stall`).
 */
export type FaultAction = 'pass' | 'drop-request' | 'drop-response-mid-body' | 'stall' | { status: number; code?: string };
export type FaultRule = (request: RecordedRequest) => FaultAction;

export interface FaultProxy {
  /** http://127.0.0.1:PORT — give it to the client as its endpoint (with forcePathStyle). */
  endpoint: string;
  requests: RecordedRequest[];
  /** Replaces the rule for the requests that follow. */
  setRule(rule: FaultRule): void;
  /** Requests of one operation. */
  ofOperation(operation: string): RecordedRequest[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'proxy-connection', 'upgrade']);

/** Starts a proxy on 127.0.0.1 in front of `target` (e.g. s3rver's endpoint). */
export async function startFaultProxy(target: string, rule: FaultRule = () => 'pass'): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  let current = rule;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const record: RecordedRequest = {
      index: requests.length,
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: Object.fromEntries(url.searchParams),
      operation: '',
      action: 'pass',
      amzHeaders: Object.fromEntries(
        Object.entries(req.headers).filter((e): e is [string, string] => e[0].startsWith('x-amz-') && typeof e[1] === 'string'),
      ),
      ...(typeof req.headers.range === 'string' ? { range: req.headers.range } : {}),
      ...(typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {}),
    };
    record.operation = operationOf(record);
    requests.push(record);
    const action = current(record);
    record.action = typeof action === 'string' ? action : `status ${action.status}`;
    res.on('finish', () => {
      record.status = res.statusCode;
    });

    if (action === 'stall') {
      req.resume();
      return;
    }
    if (action === 'drop-request') {
      const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
      if (!hasBody) {
        req.socket.destroy();
        return;
      }
      req.once('data', () => req.socket.destroy());
      return;
    }
    if (typeof action === 'object') {
      // Read the whole request first, as a server would before answering an error.
      req.resume();
      req.on('end', () => {
        const code = action.code ?? (action.status >= 500 ? 'InternalError' : 'AccessDenied');
        const body =
          req.method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>Injected by the fault proxy.</Message><RequestId>fault-proxy-${record.index}</RequestId></Error>`;
        res.writeHead(action.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }

    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        const answerHeaders = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
        res.writeHead(answer.statusCode ?? 502, answerHeaders);
        if (action !== 'drop-response-mid-body') {
          answer.pipe(res);
          return;
        }
        const total = Number(answer.headers['content-length']);
        const cut = Number.isFinite(total) && total > 1 ? Math.floor(total / 2) : 0;
        if (cut === 0) {
          answer.destroy();
          res.socket?.destroy();
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= cut) return;
          const part = chunk.subarray(0, cut - sent);
          sent += part.length;
          if (sent < cut) {
            res.write(part);
            return;
          }
          // Flush what was promised so far, then cut: the client sees a body that stops mid-way.
          res.write(part, () => {
            answer.destroy();
            res.socket?.destroy();
          });
        });
      },
    );
    forward.on('error', () => res.socket?.destroy());
    req.pipe(forward);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    setRule(rule) {
      current = rule;
    },
    ofOperation(operation) {
      return requests.filter((r) => r.operation === operation);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The S3 operation of a path-style request. */
export function operationOf(request: Pick<RecordedRequest, 'method' | 'path' | 'query'>): string {
  const { method, path, query } = request;
  const hasKey = path.split('/').filter((s) => s !== '').length > 1;
  if (!hasKey) {
    if (method === 'GET' && 'uploads' in query) return 'ListMultipartUploads';
    if (method === 'GET') return 'list-type' in query ? 'ListObjectsV2' : 'ListObjects';
    if (method === 'POST' && 'delete' in query) return 'DeleteObjects';
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'PUT') return 'CreateBucket';
    if (method === 'DELETE') return 'DeleteBucket';
    return `${method} bucket`;
  }
  if (method === 'PUT') return 'uploadId' in query ? 'UploadPart' : 'PutObject';
  if (method === 'POST') return 'uploads' in query ? 'CreateMultipartUpload' : 'uploadId' in query ? 'CompleteMultipartUpload' : 'POST object';
  if (method === 'DELETE') return 'uploadId' in query ? 'AbortMultipartUpload' : 'DeleteObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  return `${method} object`;
}
