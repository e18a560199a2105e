-- AlterTable
ALTER TABLE "Client" ADD COLUMN "assertionIssuer" TEXT;
ALTER TABLE "Client" ADD COLUMN "assertionJwks" TEXT;
ALTER TABLE "Client" ADD COLUMN "assertionJwksUri" TEXT;

-- CreateTable
CREATE TABLE "AssertionJti" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "AssertionJti_expiresAt_idx" ON "AssertionJti"("expiresAt");
