-- AlterTable
ALTER TABLE "User" ADD COLUMN     "hasPassword" BOOLEAN NOT NULL DEFAULT true;

-- CreateTable
CREATE TABLE "Upstream" (
    "id" TEXT NOT NULL,
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
    "defaultRoles" JSONB NOT NULL DEFAULT '[]',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Upstream_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UpstreamIdentity" (
    "id" TEXT NOT NULL,
    "upstreamId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "email" TEXT,
    "lastSignInAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "UpstreamIdentity_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "UpstreamIdentity_userId_idx" ON "UpstreamIdentity"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "UpstreamIdentity_upstreamId_subject_key" ON "UpstreamIdentity"("upstreamId", "subject");

-- CreateIndex
CREATE UNIQUE INDEX "UpstreamIdentity_upstreamId_userId_key" ON "UpstreamIdentity"("upstreamId", "userId");

-- AddForeignKey
ALTER TABLE "UpstreamIdentity" ADD CONSTRAINT "UpstreamIdentity_upstreamId_fkey" FOREIGN KEY ("upstreamId") REFERENCES "Upstream"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UpstreamIdentity" ADD CONSTRAINT "UpstreamIdentity_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
