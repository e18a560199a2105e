-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_SigningKey" (
    "kid" TEXT NOT NULL PRIMARY KEY,
    "alg" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "generation" INTEGER NOT NULL DEFAULT 0,
    "publicJwk" JSONB NOT NULL,
    "privateJwkEncrypted" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activatesAt" DATETIME,
    "activatedAt" DATETIME,
    "retiresAt" DATETIME,
    "retiredAt" DATETIME,
    "removesAt" DATETIME,
    "removedAt" DATETIME,
    "revokedAt" DATETIME
);
INSERT INTO "new_SigningKey" ("alg", "createdAt", "kid", "privateJwkEncrypted", "publicJwk", "state") SELECT "alg", "createdAt", "kid", "privateJwkEncrypted", "publicJwk", "state" FROM "SigningKey";
DROP TABLE "SigningKey";
ALTER TABLE "new_SigningKey" RENAME TO "SigningKey";
CREATE INDEX "SigningKey_state_idx" ON "SigningKey"("state");
CREATE UNIQUE INDEX "SigningKey_alg_generation_key" ON "SigningKey"("alg", "generation");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
