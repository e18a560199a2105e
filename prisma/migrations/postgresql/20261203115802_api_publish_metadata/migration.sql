-- AlterTable
ALTER TABLE "Api" ADD COLUMN     "publishMetadata" BOOLEAN NOT NULL DEFAULT false;
