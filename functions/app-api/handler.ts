import { lambdaDeps } from '../runtime.js';
import { createAppApi } from './api.js';

/** The app-api Lambda: /v1/app/* (and API Gateway's $default route, for problem+json 404s). */
export const handler = createAppApi(lambdaDeps('callwake-app-api'));
