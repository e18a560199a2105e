-- CreateTable
CREATE TABLE "ClientMetadataDocument" (
    "id" TEXT NOT NULL,
    "document" TEXT,
    "clientName" TEXT,
    "fetchedAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3),
    "lastError" TEXT,
    "lastErrorAt" TIMESTAMP(3),
    "blockedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ClientMetadataDocument_pkey" PRIMARY KEY ("id")
);
