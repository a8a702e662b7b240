import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoCallStore } from './adapters/dynamo-call-store.js';
import { DynamoDeviceStore } from './adapters/dynamo-device-store.js';
import type { AppDeps } from './app-api/api.js';
import type { ApnsEnvironment } from './core/call.js';
import type { TokenKeyRing } from './core/call-token.js';
import { type Clock, realTimer, systemClock } from './core/clock.js';
import type { Log, Pusher } from './core/ports.js';
import type { PbxDeps } from './pbx-api/deps.js';

export interface Parts {
  doc: DynamoDBDocumentClient;
  tableName: string;
  pusher: Pusher;
  tokenKeys: () => TokenKeyRing;
  refreshTokenKeys?: () => Promise<boolean>;
  tenantSecrets: (tenantId: string) => Promise<readonly string[] | undefined>;
  log: Log;
  clock?: Clock;
  defaultEnvironment: ApnsEnvironment;
  pushDeadlineMs: number;
  publicBaseUrl?: string | undefined;
}

/** The one place adapters are plugged into the use cases' ports (Lambda, local server, tests). */
export function wire(p: Parts): PbxDeps & AppDeps {
  const clock = p.clock ?? systemClock;
  return {
    calls: new DynamoCallStore(p.doc, p.tableName, clock),
    devices: new DynamoDeviceStore(p.doc, p.tableName),
    pusher: p.pusher,
    clock,
    timer: realTimer,
    tokenKeys: p.tokenKeys,
    ...(p.refreshTokenKeys ? { refreshTokenKeys: p.refreshTokenKeys } : {}),
    tenantSecrets: p.tenantSecrets,
    defaultEnvironment: p.defaultEnvironment,
    pushDeadlineMs: p.pushDeadlineMs,
    log: p.log,
    ...(p.publicBaseUrl ? { publicBaseUrl: p.publicBaseUrl } : {}),
  };
}
