import { lambdaObservability } from '../adapters/observability.js';
import { apnsPusher } from '../apns.js';
import { lambdaDeps } from '../runtime.js';
import { createPbxApi } from './api.js';

const observability = lambdaObservability('callwake-pbx-api');

/** The pbx-api Lambda: /v1/pbx/* behind API Gateway (HTTP API, payload v2). */
export const handler = createPbxApi(lambdaDeps(observability, apnsPusher), observability.middlewares);
