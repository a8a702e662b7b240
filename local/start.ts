import { generateKeyPairSync } from 'node:crypto';
import { teamKeyOf } from '../functions/adapters/apns-jwt.js';
import { powertoolsLog } from '../functions/adapters/log.js';
import { ApnsSimulator } from './apns-simulator/index.js';
import { localConfig } from './config.js';
import { type RunningDynamo, startDynamoLocal } from './dynamo-local.js';
import { writeSession } from './session.js';
import { type StackOptions, startStack } from './stack.js';

/** `npm start`: DynamoDB Local, the APNs simulator and both APIs on one machine. */
async function main() {
  const config = localConfig();
  const dynamo: RunningDynamo | undefined = config.dynamoEndpoint ? undefined : await startDynamoLocal();
  const dynamoEndpoint = config.dynamoEndpoint ?? dynamo!.endpoint;

  let simulator: ApnsSimulator | undefined;
  let apns: StackOptions['apns'];
  let apnsLine: string;
  const hosts = config.apnsHosts;
  if (config.apnsHost || hosts.sandbox || hosts.production) {
    // Any APNs-compatible server: it must present a certificate this process trusts (NODE_EXTRA_CA_CERTS).
    const key = config.apple
      ? teamKeyOf(config.apple.teamId, config.apple.keyId, config.apple.privateKeyPem)
      : teamKeyOf(
          'LOCALTEAM1',
          'LOCALKEY01',
          generateKeyPairSync('ec', { namedCurve: 'P-256' })
            .privateKey.export({ format: 'pem', type: 'pkcs8' })
            .toString(),
        );
    apns = { kind: 'host', ...(config.apnsHost ? { host: config.apnsHost } : {}), hosts, key };
    const shown = (env: 'sandbox' | 'production') => hosts[env] ?? config.apnsHost ?? `Apple's ${env}`;
    apnsLine = `APNs:       sandbox ${shown('sandbox')}, production ${shown('production')} (team ${key.teamId}, key ${key.keyId})`;
  } else if (config.apple) {
    apns = { kind: 'apple', key: teamKeyOf(config.apple.teamId, config.apple.keyId, config.apple.privateKeyPem) };
    apnsLine = `APNs:       Apple (team ${config.apple.teamId}; ${config.defaultEnvironment} for inline devices)`;
  } else {
    simulator = await ApnsSimulator.start();
    apns = { kind: 'simulator', simulator };
    apnsLine = `APNs:       built-in simulator at https://${simulator.address} (team LOCALTEAM1)`;
  }

  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    stack = await startStack({
      host: config.host,
      port: config.port,
      publicBaseUrl: config.publicBaseUrl,
      tenants: config.tenants,
      dynamoEndpoint,
      tableName: config.tableName,
      apns,
      defaultEnvironment: config.defaultEnvironment,
      pushDeadlineMs: config.pushDeadlineMs,
      tenantLimits: config.tenantLimits,
      log: powertoolsLog('callwake-local'),
      // Deployed, events go to SNS and the callback queue; here each is printed as one line.
      events: {},
    });
  } catch (e) {
    // Nothing may outlive a failed start: DynamoDB Local is a Java process of its own.
    await simulator?.stop();
    await dynamo?.stop();
    throw e;
  }

  const [tenantId, { secrets }] = [...config.tenants.entries()][0]!;
  // Only the throwaway demo secret goes to disk; a real tenant's secret stays where it was given.
  if (config.demoTenant) writeSession({ url: stack.url, tenantId, secret: secrets[0]! });
  console.log(
    [
      '',
      'callwake is running',
      `API:        ${stack.url}  (PBX: ${stack.url}/v1/pbx, app: ${config.publicBaseUrl ?? stack.url}/v1/app)`,
      `DynamoDB:   ${dynamoEndpoint} (table ${config.tableName}${dynamo ? ', DynamoDB Local in memory' : ''})`,
      apnsLine,
      config.demoTenant
        ? `Tenant:     ${tenantId}\nSecret:     ${secrets[0]}   (a fresh demo secret; set CALLWAKE_TENANTS to choose your own)`
        : `Tenants:    ${[...config.tenants.keys()].join(', ')} (from CALLWAKE_TENANTS)`,
      config.unlimited
        ? 'Limits:     none per tenant (set a tenant\'s "limits", or TENANT_REQUESTS_PER_SECOND and TENANT_RINGING_CALLS)'
        : `Limits:     ${config.tenantLimits.requestsPerSecond} requests/s, ${config.tenantLimits.ringingCalls} calls ringing, per tenant without its own`,
      '',
      config.demoTenant
        ? 'Try it:     npm run demo   (in another terminal: a PBX and a phone through one whole call)'
        : `Try it:     CALLWAKE_URL=${stack.url} CALLWAKE_TENANT=${tenantId} CALLWAKE_SECRET=<its secret> npm run demo`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    await simulator?.stop();
    await dynamo?.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
