// Run by postinstall, on the Node the project installs (node_modules/.bin/node). npm itself may
// run on an older Node, and then it warns that packages want Node 22 or later: one line here
// says why those warnings do not matter.
const npmNode = /\bnode\/v(\d+)\.(\d+)/.exec(process.env.npm_config_user_agent ?? '');
const older = npmNode && (Number(npmNode[1]) < 22 || (Number(npmNode[1]) === 22 && Number(npmNode[2]) < 12));
if (older) {
  process.stderr.write(
    `ostiary: npm ran on Node ${npmNode[1]}.${npmNode[2]}, older than the 22.12 these packages ask for; every npm script runs on the Node ${process.versions.node} just installed in node_modules/.bin, so the EBADENGINE warnings above are harmless.\n`,
  );
}
