import { lambdaDeps } from '../runtime.js';
import { createPbxApi } from './api.js';

/** The pbx-api Lambda: /v1/pbx/* behind API Gateway (HTTP API, payload v2). */
export const handler = createPbxApi(lambdaDeps('callwake-pbx-api'));
