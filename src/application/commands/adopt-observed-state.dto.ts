import 'reflect-metadata';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsDefined, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { Documented, DocumentedSchema } from './documentation';
import { CommandDto } from './topology-command.dtos';

@DocumentedSchema({
  description:
    'Brings the ledger to what an observation saw, for the entities named (all open drift the observation covers when absent), ' +
    'through the same rules as every command; all or nothing. Needs a reason. `?whatIf=true` returns the events first.',
})
export class AdoptObservedStateDto extends CommandDto {
  @IsDefined({ message: '$property is required' })
  @IsUUID(undefined, { message: '$property must be a UUID' })
  @Documented(true, { type: String, format: 'uuid', description: 'The observation, as POST /api/observations returned it.' })
  observationId!: string;

  @IsOptional()
  @IsArray({ message: '$property must be an array of entity keys' })
  @ArrayMinSize(1, { message: '$property must name at least one entity (leave it out to adopt all)' })
  @ArrayMaxSize(100000, { message: '$property must name at most 100000 entities' })
  @IsString({ each: true, message: 'each of $property must be an entity key such as endpoint:sip:x@contoso.com' })
  @MaxLength(500, { each: true, message: 'each of $property must be at most 500 characters' })
  @Documented(false, { type: [String], example: ['endpoint:sip:persistentchat@contoso.com'] })
  entities?: string[];
}
