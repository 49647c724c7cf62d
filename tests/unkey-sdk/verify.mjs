// Unkey's official TypeScript SDK (@unkey/api), unchanged, pointed at Keyward's verify server.
//
//   node verify.mjs [BASE_URL [ROOT_KEY [KEY [PERMISSIONS]]]]
//
// Each argument may come from the environment instead (KEYWARD_URL, KEYWARD_ROOT_KEY, KEYWARD_KEY,
// KEYWARD_PERMISSIONS), which keeps keys out of `ps`. Prints one line of JSON:
//   {"ok":true,"result":{meta,data}}              what keys.verifyKey returned
//   {"ok":false,"error":{name,statusCode,...}}    what it threw (the SDK's own error class)
// and exits 0 either way; 2 for bad usage. tests/gateway.rs runs it.
import { Unkey } from "@unkey/api";

const [, , argUrl, argRoot, argKey, argPermissions] = process.argv;
const serverURL = argUrl ?? process.env.KEYWARD_URL;
const rootKey = argRoot ?? process.env.KEYWARD_ROOT_KEY;
const key = argKey ?? process.env.KEYWARD_KEY;
const permissions = argPermissions ?? process.env.KEYWARD_PERMISSIONS;

if (!serverURL || rootKey === undefined || key === undefined) {
  process.stderr.write(
    "usage: node verify.mjs BASE_URL ROOT_KEY KEY [PERMISSIONS] (or KEYWARD_URL, KEYWARD_ROOT_KEY, KEYWARD_KEY)\n",
  );
  process.exit(2);
}

// The only change from talking to Unkey itself: serverURL.
const unkey = new Unkey({ serverURL, rootKey });

function describe(error) {
  const out = { name: error?.constructor?.name ?? typeof error, message: String(error?.message ?? error) };
  if (error && typeof error === "object") {
    if ("statusCode" in error) out.statusCode = error.statusCode;
    if ("data$" in error) out.data = error.data$;
    else if ("body" in error) out.body = error.body;
  }
  return out;
}

try {
  const request = { key };
  if (permissions) request.permissions = permissions;
  const result = await unkey.keys.verifyKey(request);
  process.stdout.write(JSON.stringify({ ok: true, result }) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, error: describe(error) }) + "\n");
}
