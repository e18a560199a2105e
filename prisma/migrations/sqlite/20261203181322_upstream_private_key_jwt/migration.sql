-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Upstream" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "preset" TEXT,
    "issuer" TEXT,
    "authorizationUrl" TEXT,
    "tokenUrl" TEXT,
    "userinfoUrl" TEXT,
    "emailsUrl" TEXT,
    "clientId" TEXT NOT NULL,
    "clientAuth" TEXT NOT NULL DEFAULT 'client_secret',
    "clientSecretSealed" TEXT,
    "privateKeySealed" TEXT,
    "scope" TEXT NOT NULL,
    "claimMapping" JSONB NOT NULL,
    "jit" BOOLEAN NOT NULL DEFAULT false,
    "defaultRoles" JSONB NOT NULL DEFAULT [],
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Upstream" ("authorizationUrl", "claimMapping", "clientId", "clientSecretSealed", "createdAt", "defaultRoles", "emailsUrl", "enabled", "id", "issuer", "jit", "kind", "name", "preset", "scope", "tokenUrl", "updatedAt", "userinfoUrl") SELECT "authorizationUrl", "claimMapping", "clientId", "clientSecretSealed", "createdAt", "defaultRoles", "emailsUrl", "enabled", "id", "issuer", "jit", "kind", "name", "preset", "scope", "tokenUrl", "updatedAt", "userinfoUrl" FROM "Upstream";
DROP TABLE "Upstream";
ALTER TABLE "new_Upstream" RENAME TO "Upstream";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
