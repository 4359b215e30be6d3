// Validate custom resources (prometheus-operator, Istio) against their CRD schemas, offline,
// with the @kubernetes-models packages that scripts/install-deploy-tools.sh puts in
// .tools/npm. Usage: node validate_crds.mjs NODE_MODULES_DIR OBJECTS.json
// Prints one JSON line per object: {"kind", "name", "ok", "error"}; exits 1 if any failed.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modulesDir, objectsFile] = process.argv.slice(2);
const PACKAGES = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "networking.istio.io": "@kubernetes-models/istio",
  "security.istio.io": "@kubernetes-models/istio",
};

let failed = 0;
for (const obj of JSON.parse(readFileSync(objectsFile, "utf8"))) {
  const [group, version] = obj.apiVersion.split("/");
  const name = obj.metadata?.name;
  const pkg = PACKAGES[group];
  const file = pkg && join(modulesDir, pkg, group, version, `${obj.kind}.js`);
  let result;
  if (!file || !existsSync(file)) {
    result = { ok: false, error: `no schema for ${obj.apiVersion} ${obj.kind}` };
  } else {
    const mod = await import(pathToFileURL(file).href);
    try {
      new mod[obj.kind](obj).validate();
      result = { ok: true, error: null };
    } catch (e) {
      result = { ok: false, error: String(e.message ?? e) };
    }
  }
  if (!result.ok) failed += 1;
  console.log(JSON.stringify({ kind: obj.kind, name, ...result }));
}
process.exit(failed ? 1 : 0);
