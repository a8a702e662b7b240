import { lambdaObservability } from '../adapters/observability.js';
import { lambdaDeps } from '../runtime.js';
import { createAppApi } from './api.js';

const observability = lambdaObservability('callwake-app-api');

/** The app-api Lambda: /v1/app/* (and API Gateway's $default route, for problem+json 404s). */
export const handler = createAppApi(lambdaDeps(observability), observability.middlewares);
