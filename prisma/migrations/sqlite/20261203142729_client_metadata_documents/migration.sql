-- CreateTable
CREATE TABLE "ClientMetadataDocument" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "document" TEXT,
    "clientName" TEXT,
    "fetchedAt" DATETIME,
    "expiresAt" DATETIME,
    "lastError" TEXT,
    "lastErrorAt" DATETIME,
    "blockedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
