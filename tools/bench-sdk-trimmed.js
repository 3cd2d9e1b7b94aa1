// Benchmark only (`npm run bench -- --compare-sdk`), never a user's run: preloaded with `--require` into
// the program's node process, it removes two per-resource costs of @pulumi/pulumi 3.270 to measure what
// they cost: the debug messages the SDK sends the engine as Log RPCs whatever the log level (four or
// more per resource), and the stack trace each of its internal promises captures for leak reports.
// Replacing exported functions works because the SDK calls them through their module objects.
"use strict";
const sdk = (file) => require(require.resolve(`@pulumi/pulumi/${file}`, { paths: [process.cwd()] }));
sdk("log").debug = () => Promise.resolve();
sdk("runtime/debuggable").debuggablePromise = (promise) => promise;
