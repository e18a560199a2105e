-- CreateTable
CREATE TABLE "Upstream" (
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
    "clientSecretSealed" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "claimMapping" JSONB NOT NULL,
    "jit" BOOLEAN NOT NULL DEFAULT false,
    "defaultRoles" JSONB NOT NULL DEFAULT [],
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "UpstreamIdentity" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "upstreamId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "email" TEXT,
    "lastSignInAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "UpstreamIdentity_upstreamId_fkey" FOREIGN KEY ("upstreamId") REFERENCES "Upstream" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "UpstreamIdentity_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "emailVerified" BOOLEAN NOT NULL DEFAULT false,
    "name" TEXT,
    "passwordHash" TEXT NOT NULL,
    "hasPassword" BOOLEAN NOT NULL DEFAULT true,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "failedLogins" INTEGER NOT NULL DEFAULT 0,
    "lockedUntil" DATETIME,
    "locale" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_User" ("createdAt", "disabled", "email", "emailVerified", "failedLogins", "id", "locale", "lockedUntil", "name", "passwordHash", "updatedAt") SELECT "createdAt", "disabled", "email", "emailVerified", "failedLogins", "id", "locale", "lockedUntil", "name", "passwordHash", "updatedAt" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "UpstreamIdentity_userId_idx" ON "UpstreamIdentity"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "UpstreamIdentity_upstreamId_subject_key" ON "UpstreamIdentity"("upstreamId", "subject");

-- CreateIndex
CREATE UNIQUE INDEX "UpstreamIdentity_upstreamId_userId_key" ON "UpstreamIdentity"("upstreamId", "userId");
