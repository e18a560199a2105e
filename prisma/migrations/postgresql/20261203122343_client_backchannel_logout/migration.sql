-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "backchannelLogoutUri" TEXT;
