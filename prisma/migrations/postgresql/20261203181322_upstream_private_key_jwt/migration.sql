-- AlterTable
ALTER TABLE "Upstream" ADD COLUMN     "clientAuth" TEXT NOT NULL DEFAULT 'client_secret',
ADD COLUMN     "privateKeySealed" TEXT,
ALTER COLUMN "clientSecretSealed" DROP NOT NULL;
