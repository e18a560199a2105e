-- AlterTable
ALTER TABLE "SigningKey" ADD COLUMN     "activatedAt" TIMESTAMP(3),
ADD COLUMN     "activatesAt" TIMESTAMP(3),
ADD COLUMN     "generation" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "removedAt" TIMESTAMP(3),
ADD COLUMN     "removesAt" TIMESTAMP(3),
ADD COLUMN     "retiredAt" TIMESTAMP(3),
ADD COLUMN     "retiresAt" TIMESTAMP(3),
ADD COLUMN     "revokedAt" TIMESTAMP(3);

-- CreateIndex
CREATE UNIQUE INDEX "SigningKey_alg_generation_key" ON "SigningKey"("alg", "generation");
