-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Client" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "secretHash" TEXT,
    "tokenEndpointAuthMethod" TEXT NOT NULL,
    "redirectUris" JSONB NOT NULL,
    "postLogoutRedirectUris" JSONB NOT NULL,
    "grantTypes" JSONB NOT NULL,
    "scope" TEXT NOT NULL,
    "firstParty" BOOLEAN NOT NULL DEFAULT false,
    "requireMfa" BOOLEAN NOT NULL DEFAULT false,
    "signInUpstreams" JSONB,
    "passwordSignIn" BOOLEAN NOT NULL DEFAULT true,
    "backchannelLogoutUri" TEXT,
    "assertionIssuer" TEXT,
    "assertionJwksUri" TEXT,
    "assertionJwks" TEXT,
    "introspectionAudiences" JSONB NOT NULL DEFAULT [],
    "accessTokenTtl" INTEGER,
    "idTokenTtl" INTEGER,
    "refreshTokenTtl" INTEGER,
    "applicationType" TEXT NOT NULL DEFAULT 'web',
    "registeredAt" DATETIME,
    "registrationTokenId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Client" ("accessTokenTtl", "applicationType", "assertionIssuer", "assertionJwks", "assertionJwksUri", "backchannelLogoutUri", "createdAt", "firstParty", "grantTypes", "id", "idTokenTtl", "introspectionAudiences", "name", "postLogoutRedirectUris", "redirectUris", "refreshTokenTtl", "registeredAt", "registrationTokenId", "requireMfa", "scope", "secretHash", "tokenEndpointAuthMethod", "updatedAt") SELECT "accessTokenTtl", "applicationType", "assertionIssuer", "assertionJwks", "assertionJwksUri", "backchannelLogoutUri", "createdAt", "firstParty", "grantTypes", "id", "idTokenTtl", "introspectionAudiences", "name", "postLogoutRedirectUris", "redirectUris", "refreshTokenTtl", "registeredAt", "registrationTokenId", "requireMfa", "scope", "secretHash", "tokenEndpointAuthMethod", "updatedAt" FROM "Client";
DROP TABLE "Client";
ALTER TABLE "new_Client" RENAME TO "Client";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
